// KV cache on KV heads (never expanded to query heads). It holds several independent sequences
// (the chunks of a sample); each (sequence, layer, KV head) has its own length, so eviction can keep
// a different token subset per head. Entries remember their position id and their source index
// (the order in which the token was appended to the sequence) for traces.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "model.h"

namespace pcomp {

struct KVHead {
  std::vector<float> k, v;      // [len, head_dim] post-RoPE keys, values
  std::vector<int32_t> pos;     // position id of each entry
  std::vector<int32_t> src;     // source index of each entry within its sequence
  int len = 0;
};

struct Sequence {
  std::vector<KVHead> heads;    // [n_layers * n_kv_heads]
  int appended = 0;             // tokens appended so far (next source index)
  bool live = false;
};

class KVCache {
 public:
  explicit KVCache(const ModelConfig& cfg);
  // n_sets > 0 overrides the cache sets per layer: n_heads gives a query-head-expanded cache (the
  // reference code caches after repeat_kv); forward() then writes each KV head's rows to its group.
  KVCache(const ModelConfig& cfg, int n_sets);
  int new_seq(int reserve_tokens = 0);
  void free_seq(int seq);
  bool live(int seq) const { return seq >= 0 && seq < int(seqs_.size()) && seqs_[seq].live; }
  Sequence& seq(int s) { return seqs_[s]; }
  const Sequence& seq(int s) const { return seqs_[s]; }
  KVHead& head(int s, int layer, int kvh) { return seqs_[s].heads[size_t(layer) * n_kv_ + kvh]; }
  int length(int s, int layer, int kvh) const { return seqs_[s].heads[size_t(layer) * n_kv_ + kvh].len; }
  void reserve(int s, int tokens);

  // Appends `n` tokens' K/V rows for one layer (k, v: [n, n_kv*head_dim]) to every KV head.
  void append(int s, int layer, const float* k, const float* v, const int32_t* pos, int n);
  void finish_append(int s, int n) { seqs_[s].appended += n; }
  // Keeps only the entries at `keep` (strictly increasing indices) of one (layer, KV head).
  void gather(int s, int layer, int kvh, const int32_t* keep, int n);
  // Drops entries [n, len) of every head.
  void truncate(int s, int n);
  // A new sequence holding the entries of `srcs` in order (each head concatenated).
  int concat(const std::vector<int>& srcs);
  // Appends every head of `src` to the same head of `dst` (src is left as it is).
  void extend(int dst, int src);

  size_t bytes() const;                 // bytes in use now (K+V of live sequences)
  size_t peak_bytes() const { return peak_; }
  int n_layers() const { return n_layers_; }
  int n_kv() const { return n_kv_; }
  int head_dim() const { return hd_; }

 private:
  void note_peak();
  int n_layers_, n_kv_, hd_;
  std::vector<Sequence> seqs_;
  size_t peak_ = 0;
};

}  // namespace pcomp
