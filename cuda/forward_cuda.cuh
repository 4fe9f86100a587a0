// The forward pass on the GPU: the device twin of engine/src/forward.h, with the same semantics
// (a batch of sequences, each bringing new tokens with explicit position ids; attention per
// sequence against its own cache, causal by cache order), on a DeviceModel and a DeviceKVCache.
//
// Long batches run in micro-batches of at most max_batch_tokens tokens inside each layer, so the
// activations of a 128K-token prefill never exist at once (only the f32 residual stream, [T, dim],
// does); an item may span micro-batches, its later parts attending to the rows its earlier parts
// appended. Full-vocabulary logits are produced 64 rows at a time.
#pragma once
#include <cstdint>
#include <vector>

#include "../engine/src/forward.h"
#include "attention.cuh"
#include "device_kv.cuh"
#include "device_model.cuh"

namespace pcomp {
namespace cuda {

struct CudaSeqInput {
  int seq = -1;
  const int32_t* tokens = nullptr;     // host
  const int32_t* positions = nullptr;  // host; null: 0..n-1
  int n = 0;
  const int32_t* targets = nullptr;    // optional, host: per new token, the id whose log-prob is wanted (-1: none)
  float* target_logprob = nullptr;     // host [n], written where targets[i] >= 0
};

// Lets a policy act inside a layer, on device data. Both calls come once per (layer, item), in the
// micro-batch that holds the item's last new token; q points at that micro-batch's rows of the
// item (post-RoPE, [n_q, n_heads * head_dim] device f32), whose last row is the item's last token.
struct CudaLayerHook {
  virtual ~CudaLayerHook() = default;
  // Rows the hook needs in the final part (the planner keeps at least this many there).
  virtual int tail_rows() const { return 1; }
  // After the new K/V are in the cache, before attention; may evict older entries.
  virtual void before_attention(int layer, int item, const float* q, int n_q, DeviceKVCache& cache, int seq,
                                cudaStream_t stream) {
    (void)layer; (void)item; (void)q; (void)n_q; (void)cache; (void)seq; (void)stream;
  }
  // After attention: the layer's cache of this item is no longer read by this forward.
  virtual void after_attention(int layer, int item, const float* q, int n_q, DeviceKVCache& cache, int seq,
                               cudaStream_t stream) {
    (void)layer; (void)item; (void)q; (void)n_q; (void)cache; (void)seq; (void)stream;
  }
};

struct CudaForwardOptions {
  LogitsMode logits = LogitsMode::Last;
  std::vector<float>* logits_out = nullptr;    // Last: [n_items, V]; All: [sum n, V] (host)
  std::vector<int32_t>* argmax_out = nullptr;  // Last: [n_items] greedy tokens, without copying logits
  CudaLayerHook* hook = nullptr;
  const RopeParams* rope = nullptr;            // overrides the model's RoPE
  int max_batch_tokens = 8192;
};

struct CudaWorkspace {
  DevBuf<float> x, xn, q, k, v, att, gate, up, rows, logits, inv_freq, logprob;
  DevBuf<float2> rope_cs;
  DevBuf<int32_t> tokens, pos, freq_row, row_idx, targets, argmax;
  AttentionWorkspace attn;
  cudaStream_t stream = 0;
};

void forward_cuda(const DeviceModel& m, DeviceKVCache& cache, const std::vector<CudaSeqInput>& items,
                  const CudaForwardOptions& opt, CudaWorkspace& ws);

}  // namespace cuda
}  // namespace pcomp
