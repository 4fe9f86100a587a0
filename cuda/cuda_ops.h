// Host-pointer entry points of the CUDA ops that backend.h does not list (bf16 products, batched
// attention, KV-eviction scores, top-k, KV compaction, calibration). Plain C++, no CUDA headers:
// test/native/test_cuda_ops.cpp includes it in builds with and without CUDA and finds the table
// through a weak reference to pcomp_cuda_op_table (null when the CUDA backend is not linked).
// The op entries copy their inputs to the device and their outputs back: they are for tests and
// one-off measurements. The model, session and pipeline entries keep their state on the device
// (cuda/forward_cuda.cu, cuda/pipeline_cuda.cu) and are what end-to-end checks and benchmarks use.
#ifndef PCOMP_CUDA_OPS_H
#define PCOMP_CUDA_OPS_H
#include <cstdint>

#include <vector>

#include "../engine/src/backend/backend.h"
#include "../engine/src/forward.h"
#include "pipeline_types.h"

namespace pcomp {
namespace cuda_ops {

enum AttnKernelChoice { ATTN_AUTO = 0, ATTN_FLASH = 1, ATTN_SPLIT = 2 };

struct KvScoreArgs {
  const float* q_obs = nullptr;       // [w, n_heads, head_dim]
  const float* const* k = nullptr;    // per KV head: [lens[h], head_dim] (rounded to bf16 on upload)
  const int* lens = nullptr;          // per KV head
  int w = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float scale = 1.f;
  int cand_start = 0, cand_end = 0;
  float weight = 1.f;                 // 1: group-sum; 1/(w*group): group-mean
  int pool_kernel = 1;                // odd; 1 = no pooling
  bool max_pool = true;
  float* out = nullptr;               // [n_kv_heads, cand_end - cand_start]
};

struct CalibArgs {
  const float* scores = nullptr;      // [n_kv, L]
  int n_kv = 0, L = 0, span_start = 0, span_end = 0;
  int region = 3;                     // 0 sink, 1 recent, 2 middle, 3 all
  float threshold = 0.1f;
  int sink = 100, recent = 100;
  bool strict = false, equalise = true;
  int32_t* keep = nullptr;            // [n_kv, L]: kept indices per head, ascending
  int* kept = nullptr;                // [n_kv]
  int* outliers = nullptr;            // [n_kv]
};

using InvFreqFn = void (*)(const RopeParams& r, int head_dim, int max_pos_in_call, float* out);
struct DeviceModelHandle;  // a model on the device
struct DeviceSession;      // a device KV cache of several sequences plus scratch, like KVCache + Workspace

struct OpTable {
  // y = x . bf16(w)^T + bias with x rounded to bf16, fp32 accumulation (the model's product).
  void (*matmul_bf16w)(float* y, const float* x, const float* w, const float* bias, int T, int N, int K);
  // Every item in one launch; each item's K/V rounded to bf16. kernel: AttnKernelChoice.
  void (*attention_batch)(const AttentionArgs* items, int n_items, int kernel);
  void (*kv_score)(const KvScoreArgs& a);
  // Per row r: indices of the ks[r] largest of scores[r, :n], ascending, into out[r * n ..).
  void (*topk)(const float* scores, int rows, int n, const int* ks, bool ties_low_first, int32_t* out);
  // out_{k,v}[h][i] = in_{k,v}[h][keep[h * count + i]] for every KV head; rows of head_dim values
  // (bf16 on the device, so the test passes bf16-exact values).
  void (*kv_gather)(const float* k, const float* v, int len, int n_kv, int head_dim, const int32_t* keep, int count,
                    float* out_k, float* out_v);
  void (*calib_select)(const CalibArgs& a);
  // out[t, :] = bf16(embed)[tokens[t], :]
  void (*embedding)(const float* embed, int vocab, int D, const int32_t* tokens, int T, float* out);

  // Models: every tensor of a loaded host model (matrices to bf16), or seeded random weights of a
  // config made on the device (nothing of that size on the host). `rope` and `inv_freq` are
  // RopeParams::from_config(cfg) and &rope_inv_freq from engine/src/forward.h, passed in so that the
  // CUDA library calls nothing in the core library (it links after it).
  DeviceModelHandle* (*model_upload)(const Model& m, const RopeParams& rope, InvFreqFn inv_freq);
  DeviceModelHandle* (*model_random)(const ModelConfig& cfg, const RopeParams& rope, InvFreqFn inv_freq, uint64_t seed);
  void (*model_free)(DeviceModelHandle* h);
  size_t (*model_bytes)(const DeviceModelHandle* h);
  // Sessions: the device twin of KVCache + forward(); sequence ids and SeqInput as there.
  DeviceSession* (*session_new)(const DeviceModelHandle* h);
  void (*session_free)(DeviceSession* s);
  int (*seq_new)(DeviceSession* s, int capacity);
  int (*seq_concat)(DeviceSession* s, const int* seqs, int n);  // a new sequence: the given ones in order
  int (*seq_length)(const DeviceSession* s, int seq, int layer, int kv_head);
  // max_batch_tokens: tokens per micro-batch inside a layer (0: the default).
  void (*forward)(DeviceSession* s, const SeqInput* items, int n_items, LogitsMode mode, int max_batch_tokens,
                  std::vector<float>* logits);
  // ParallelComp (or full) on one sample, timed; see cuda/pipeline_cuda.cuh.
  cuda::PipelineResult (*pipeline_run)(const DeviceModelHandle* h, const cuda::PipelineSample& sample,
                                       const cuda::PipelineConfig& cfg);
  const char* (*device_name)();
};

}  // namespace cuda_ops
}  // namespace pcomp

// The table, or null with *why set when no GPU is usable. Defined in cuda/cuda_backend.cu.
extern "C" const pcomp::cuda_ops::OpTable* pcomp_cuda_op_table(const char** why);

#endif  // PCOMP_CUDA_OPS_H
