// The KV cache on the GPU: bf16, on KV heads (never expanded), several sequences (the chunks of a
// sample). Device twin of engine/src/kv_cache.h: every (sequence, layer, KV head) has its own
// length so eviction may keep a different subset per head. Storage per sequence is one buffer
// [n_layers][n_kv][capacity][head_dim] for K and one for V; lengths live on the host, where the
// forward pass plans its launches.
#pragma once
#include <algorithm>
#include <vector>

#include "../engine/src/model.h"
#include "common.cuh"
#include "device_memory.cuh"

namespace pcomp {
namespace cuda {

struct DeviceSeq {
  int capacity = 0;          // rows per (layer, KV head)
  DevBuf<bf16> k, v;
  std::vector<int> len;      // [n_layers * n_kv]
  int appended = 0;          // tokens appended so far
  bool live = false;
};

// A range of every head of a sequence: rows [first, len - drop_tail) (used to concatenate chunks
// without their question tokens, or without BOS).
struct SeqPiece {
  int seq = -1;
  int first = 0;
  int drop_tail = 0;
};

class DeviceKVCache {
 public:
  explicit DeviceKVCache(const ModelConfig& cfg);
  int new_seq(int capacity);
  void free_seq(int s);
  bool live(int s) const { return s >= 0 && s < int(seqs_.size()) && seqs_[s].live; }
  DeviceSeq& seq(int s) { return seqs_[s]; }
  const DeviceSeq& seq(int s) const { return seqs_[s]; }
  int length(int s, int layer, int h) const { return seqs_[s].len[size_t(layer) * n_kv_ + h]; }
  long long head_stride(int s) const { return (long long)seqs_[s].capacity * hd_; }
  bf16* k(int s, int layer) { return seqs_[s].k.get() + size_t(layer) * n_kv_ * head_stride(s); }
  bf16* v(int s, int layer) { return seqs_[s].v.get() + size_t(layer) * n_kv_ * head_stride(s); }
  // Grows the capacity to at least `tokens` rows (copying what is held), geometrically.
  void reserve(int s, int tokens, cudaStream_t stream);
  // A new sequence holding the pieces in order, in every layer and head.
  int concat(const std::vector<SeqPiece>& pieces, cudaStream_t stream);
  // Keeps, in one layer, rows keep[h * ld_keep .. + count[h]) of each head (device indices,
  // ascending), gathering through `scratch` (out of place).
  void gather_layer(int s, int layer, const int32_t* keep, int ld_keep, const std::vector<int>& count,
                    cudaStream_t stream);

  size_t bytes() const;  // device bytes reserved by live sequences
  size_t peak_bytes() const { return peak_; }  // the most bytes() has been since construction
  int n_layers() const { return n_layers_; }
  int n_kv() const { return n_kv_; }
  int head_dim() const { return hd_; }

 private:
  int n_layers_, n_kv_, hd_;
  std::vector<DeviceSeq> seqs_;
  DevBuf<bf16> scratch_k_, scratch_v_;
  size_t peak_ = 0;
  void note_peak() { peak_ = std::max(peak_, bytes()); }
};

}  // namespace cuda
}  // namespace pcomp
