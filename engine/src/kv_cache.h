// KV cache on KV heads (or on query heads when a stage asks for the reference code's expanded
// cache). It holds several independent sequences (the chunks of a sample); each (sequence, layer,
// set) has its own length, so eviction can keep a different token subset per head. K/V rows live in
// backend buffers (backend.h, in the backend's KV dtype): the cache never touches them itself, it
// asks the backend to write, gather, copy or re-rotate rows. Entries remember their position id and
// their source index (the order in which the token was appended to the sequence), on the host.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "model.h"

namespace pcomp {

struct KVHead {
  Buffer* k = nullptr;          // [cap, head_dim] post-RoPE keys (backend memory)
  Buffer* v = nullptr;          // [cap, head_dim] values
  int cap = 0;                  // rows allocated
  std::vector<int32_t> pos;     // position id of each entry
  std::vector<int32_t> src;     // source index of each entry within its sequence
  int len = 0;
};

struct Sequence {
  std::vector<KVHead> heads;    // [n_layers * n_sets]
  int appended = 0;             // tokens appended so far (next source index)
  bool live = false;
};

class KVCache {
 public:
  KVCache(const ModelConfig& cfg, const Backend& be);
  // n_sets > 0 overrides the cache sets per layer: n_heads gives a query-head-expanded cache (the
  // reference code caches after repeat_kv); append() then writes each KV head's rows to its group.
  KVCache(const ModelConfig& cfg, const Backend& be, int n_sets);
  ~KVCache();
  KVCache(const KVCache&) = delete;
  KVCache& operator=(const KVCache&) = delete;
  int new_seq(int reserve_tokens = 0);
  void free_seq(int seq);
  bool live(int seq) const { return seq >= 0 && seq < int(seqs_.size()) && seqs_[seq].live; }
  const Sequence& seq(int s) const { return seqs_[s]; }
  const KVHead& head(int s, int layer, int set) const { return seqs_[s].heads[size_t(layer) * n_kv_ + set]; }
  int length(int s, int layer, int set) const { return seqs_[s].heads[size_t(layer) * n_kv_ + set].len; }
  void reserve(int s, int tokens);

  // Appends `n` tokens' K/V rows for one layer (k, v: [n, src_heads*head_dim] f32 backend views) to
  // every set; set h takes source head h / (sets / src_heads).
  void append(int s, int layer, View k, View v, int src_heads, const int32_t* pos, int n);
  void finish_append(int s, int n) { seqs_[s].appended += n; }
  // Keeps only the entries at `keep` (strictly increasing indices) of one (layer, set).
  void gather(int s, int layer, int set, const int32_t* keep, int n);
  // Drops entries [n, len) of every head.
  void truncate(int s, int n);
  // A new sequence holding the entries of `srcs` in order (each head concatenated).
  int concat(const std::vector<int>& srcs);
  // Appends every head of `src` to the same head of `dst` (src is left as it is).
  void extend(int dst, int src);
  // Moves keys [from, len) of one (layer, set) by `delta` positions (post-RoPE keys re-rotated by
  // the backend; inv_freq: [head_dim/2] f32 backend view); their position ids follow.
  void shift_positions(int s, int layer, int set, int from, int delta, View inv_freq);

  size_t bytes() const;                 // bytes in use now (K+V allocated for live sequences)
  size_t peak_bytes() const { return peak_; }
  int n_layers() const { return n_layers_; }
  int n_kv() const { return n_kv_; }
  int head_dim() const { return hd_; }
  const Backend& backend() const { return be_; }

 private:
  KVHead& head_mut(int s, int layer, int set) { return seqs_[s].heads[size_t(layer) * n_kv_ + set]; }
  void resize_head(KVHead& h, int cap);  // reallocates to exactly cap rows, keeping the first len
  void release(Sequence& s);
  void note_peak();
  const Backend& be_;
  int n_layers_, n_kv_, hd_;
  size_t row_bytes_;
  std::vector<Sequence> seqs_;
  size_t peak_ = 0;
};

}  // namespace pcomp
