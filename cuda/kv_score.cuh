// The KV-eviction score of ParallelComp's per-chunk eviction (SnapKV-style, paper Eq. 5-7) and of
// attention calibration (Eq. 8), computed from the observation window only: no n x n matrix, only
// one score per (KV head, key). CPU reference: the plain loops in test/native/test_cuda_ops.cpp,
// which follow test/oracle/policies/kv-evict.ts and attn-calib.ts.
//
// q_obs [w, n_heads, head_dim] f32: the last w queries of the sequence, in order, RoPE applied.
// Keys of KV head g: k + g * head_stride, lens[g] rows of head_dim bf16. Observation row r sees keys
// [0, lens[g] - w + r] (it is the token at cache index lens[g] - w + r).
// raw[g][j - cand_start] = weight * sum over the group's query heads h and rows r of softmax_r(h)[j]
// for j in [cand_start, cand_end): weight 1 is kvEvict's group-sum, 1/(w * group) calibration's
// group-mean. Then kv_score_pool smooths along the keys (kernel odd; max ignores positions outside
// the range as torch's -inf padding does, avg divides by the kernel as avg_pool1d counts zero padding).
#pragma once
#include "common.cuh"
#include "device_memory.cuh"

#define PCOMP_KV_SCORE_BLOCK_SIZE 256
#define PCOMP_KV_SCORE_ROW_BATCH 16

namespace pcomp {
namespace cuda {

struct KvScoreWorkspace {
  DevBuf<float2> partial;  // per (KV head, row, key split): (max, sum of exp)
  DevBuf<float> lse;       // per (KV head, row): log-sum-exp of the row's visible scores
  DevBuf<int> lens;
  DevBuf<int> vis;
};

// k_heads: device array of n_kv pointers (KV head g's rows); lens: host array of n_kv entries;
// vis: host [w, n_kv] or null: observation row r of head g sees keys [0, vis[r * n_kv + g]) instead
// of the causal rule. raw: [n_kv, cand_end - cand_start] (row stride cand_end - cand_start).
void kv_score(const float* q_obs, int w, const bf16* const* k_heads, const int* lens, const int* vis, int n_heads,
              int n_kv, int head_dim, float scale, int cand_start, int cand_end, float weight, float* raw,
              KvScoreWorkspace& ws, cudaStream_t stream);

// out[g][i] (f64) = pool over keys of the combine over g's heads of raw [n_heads, n] (f32):
// mode 0 none (n_groups == n_heads), 1 sum, 2 mean, 3 max (backend.h's HeadCombine); kernel <= 1: no pooling.
void kv_score_combine_pool(const float* raw, int n_heads, int n_groups, int mode, int n, int kernel, bool max_pool,
                           double* out, cudaStream_t stream);

// out[g][i] = pool of in[g][i - kernel/2 .. i + kernel/2] within [0, n); in and out are [rows, n].
void kv_score_pool(const float* in, float* out, int rows, int n, int kernel, bool max_pool, cudaStream_t stream);

}  // namespace cuda
}  // namespace pcomp
