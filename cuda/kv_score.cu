// Two passes over the keys, both one thread per key and PCOMP_KV_SCORE_ROW_BATCH observation rows
// at a time (their q in shared memory, read as broadcasts; the key row read with 16-byte loads):
//   1. each block reduces its keys to a partial (max, sum exp) per row; kv_score_lse merges the
//      splits into the log-sum-exp of every row;
//   2. each key recomputes its scores and sums exp(s - lse) over the rows it is visible to.
// Recomputing the dot products is cheaper than storing w * group * L scores.
#include <algorithm>
#include <stdexcept>

#include "kv_score.cuh"

namespace pcomp {
namespace cuda {

namespace {
constexpr int NT = PCOMP_KV_SCORE_BLOCK_SIZE, RB = PCOMP_KV_SCORE_ROW_BATCH;

// Scores of key j against rows [r0, r0 + RB) of the packed (row, head-in-group) list; q rows in qs.
__device__ __forceinline__ void score_rows(const float* qs, const bf16* kr, int hd, int nrows, float* acc) {
#pragma unroll
  for (int r = 0; r < RB; ++r) acc[r] = 0.f;
  if ((hd & 7) == 0) {
    for (int d = 0; d < hd; d += 8) {
      float kf[8];
      bf16x8_to_float(*reinterpret_cast<const uint4*>(kr + d), kf);
#pragma unroll
      for (int r = 0; r < RB; ++r)
        if (r < nrows) {
          const float* q = qs + r * hd + d;
#pragma unroll
          for (int e = 0; e < 8; ++e) acc[r] += q[e] * kf[e];
        }
    }
  } else {
    for (int d = 0; d < hd; ++d) {
      const float kv = __bfloat162float(kr[d]);
#pragma unroll
      for (int r = 0; r < RB; ++r)
        if (r < nrows) acc[r] += qs[r * hd + d] * kv;
    }
  }
}

// Packed row pr = obs_row * group + g of KV head kvh -> its q vector and its last visible key.
__device__ __forceinline__ void load_rows(float* qs, const float* q_obs, int pr0, int nrows, int group, int kvh,
                                          int n_heads, int hd) {
  for (int e = threadIdx.x; e < nrows * hd; e += blockDim.x) {
    const int r = e / hd, d = e % hd, pr = pr0 + r;
    const int obs = pr / group, head = kvh * group + pr % group;
    qs[e] = q_obs[(size_t(obs) * n_heads + head) * hd + d];
  }
}
}  // namespace

static __global__ void __launch_bounds__(NT)
    kv_score_partial_kernel(const float* q_obs, int w, const bf16* const* kheads, const int* lens, const int* vis,
                            int n_heads, int hd, float scale, int n_splits, float2* partial) {
  extern __shared__ float qs[];  // RB * hd
  __shared__ float scratch[32];
  const int kvh = blockIdx.y, split = blockIdx.x;
  const int group = gridDim.y > 0 ? n_heads / gridDim.y : 1;
  const int L = lens[kvh], R = w * group;
  const int j = split * NT + threadIdx.x;
  const bf16* kr = kheads[kvh] + size_t(j) * hd;
  for (int pr0 = 0; pr0 < R; pr0 += RB) {
    const int nrows = min(RB, R - pr0);
    __syncthreads();
    load_rows(qs, q_obs, pr0, nrows, group, kvh, n_heads, hd);
    __syncthreads();
    float acc[RB];
    if (j < L) score_rows(qs, kr, hd, nrows, acc);
    for (int r = 0; r < nrows; ++r) {
      const int obs = (pr0 + r) / group;
      const int seen = vis ? vis[size_t(obs) * gridDim.y + kvh] : L - w + obs + 1;
      const bool seen_j = j < L && j < seen;
      const float s = seen_j ? acc[r] * scale : -INFINITY;
      const float m = block_max(s, scratch);
      const float e = seen_j ? __expf(s - m) : 0.f;
      const float l = block_sum(e, scratch);
      if (threadIdx.x == 0) partial[(size_t(kvh) * R + pr0 + r) * n_splits + split] = make_float2(m, l);
    }
  }
}

static __global__ void kv_score_lse_kernel(const float2* partial, int n_rows_total, int n_splits, float* lse) {
  const int row = blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= n_rows_total) return;
  float M = -INFINITY;
  for (int s = 0; s < n_splits; ++s) M = fmaxf(M, partial[size_t(row) * n_splits + s].x);
  float S = 0.f;
  for (int s = 0; s < n_splits; ++s) {
    const float2 ml = partial[size_t(row) * n_splits + s];
    if (ml.x != -INFINITY) S += ml.y * __expf(ml.x - M);
  }
  lse[row] = M + logf(S);
}

static __global__ void __launch_bounds__(NT)
    kv_score_sum_kernel(const float* q_obs, int w, const bf16* const* kheads, const int* lens, const int* vis,
                        int n_heads, int hd, float scale, const float* lse, int cand_start, int cand_end, float weight,
                        float* raw) {
  extern __shared__ float qs[];
  const int kvh = blockIdx.y;
  const int group = n_heads / gridDim.y;
  const int L = lens[kvh], R = w * group;
  const int n = cand_end - cand_start;
  const int j = cand_start + blockIdx.x * NT + threadIdx.x;
  const bf16* kr = kheads[kvh] + size_t(j) * hd;
  float total = 0.f;
  for (int pr0 = 0; pr0 < R; pr0 += RB) {
    const int nrows = min(RB, R - pr0);
    __syncthreads();
    load_rows(qs, q_obs, pr0, nrows, group, kvh, n_heads, hd);
    __syncthreads();
    if (j < cand_end && j < L) {
      float acc[RB];
      score_rows(qs, kr, hd, nrows, acc);
#pragma unroll
      for (int r = 0; r < RB; ++r)
        if (r < nrows) {
          const int obs = (pr0 + r) / group;
          const int seen = vis ? vis[size_t(obs) * gridDim.y + kvh] : L - w + obs + 1;
          if (j < seen) total += __expf(acc[r] * scale - lse[size_t(kvh) * R + pr0 + r]);
        }
    }
  }
  if (j < cand_end) raw[size_t(kvh) * n + (j - cand_start)] = total * weight;
}

static __global__ void kv_score_pool_kernel(const float* in, float* out, int n, int kernel, bool max_pool) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float* r = in + size_t(blockIdx.y) * n;
  const int half = kernel / 2, lo = max(0, i - half), hi = min(n - 1, i + half);
  float v = max_pool ? -INFINITY : 0.f;
  for (int t = lo; t <= hi; ++t) v = max_pool ? fmaxf(v, r[t]) : v + r[t];
  out[size_t(blockIdx.y) * n + i] = max_pool ? v : v / float(kernel);
}

void kv_score(const float* q_obs, int w, const bf16* const* k_heads, const int* lens, const int* vis, int n_heads,
              int n_kv, int head_dim, float scale, int cand_start, int cand_end, float weight, float* raw,
              KvScoreWorkspace& ws, cudaStream_t stream) {
  if (cand_end <= cand_start || w <= 0) return;
  if (n_kv <= 0 || n_heads % n_kv != 0) throw std::runtime_error("kv_score: n_heads must be a multiple of n_kv");
  const int group = n_heads / n_kv, R = w * group;
  int max_len = 0;
  for (int g = 0; g < n_kv; ++g) max_len = std::max(max_len, lens[g]);
  ws.lens.grow(size_t(n_kv));
  to_device(ws.lens.get(), lens, sizeof(int) * n_kv);
  const int* dvis = nullptr;
  if (vis) {
    ws.vis.grow(size_t(w) * n_kv);
    to_device(ws.vis.get(), vis, sizeof(int) * size_t(w) * n_kv);
    dvis = ws.vis.get();
  }
  const int n_splits = std::max(1, ceil_div(max_len, NT));
  ws.partial.grow(size_t(n_kv) * R * n_splits);
  ws.lse.grow(size_t(n_kv) * R);
  const size_t smem = sizeof(float) * RB * head_dim;
  kv_score_partial_kernel<<<dim3(n_splits, n_kv), NT, smem, stream>>>(q_obs, w, k_heads, ws.lens.get(), dvis, n_heads,
                                                                     head_dim, scale, n_splits, ws.partial.get());
  PCOMP_CUDA_LAUNCHED();
  kv_score_lse_kernel<<<ceil_div(n_kv * R, 128), 128, 0, stream>>>(ws.partial.get(), n_kv * R, n_splits, ws.lse.get());
  PCOMP_CUDA_LAUNCHED();
  kv_score_sum_kernel<<<dim3(ceil_div(cand_end - cand_start, NT), n_kv), NT, smem, stream>>>(
      q_obs, w, k_heads, ws.lens.get(), dvis, n_heads, head_dim, scale, ws.lse.get(), cand_start, cand_end, weight, raw);
  PCOMP_CUDA_LAUNCHED();
}

static __global__ void kv_score_combine_pool_kernel(const float* raw, int H, int G, int mode, int n, int kernel,
                                                    bool max_pool, double* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int g = blockIdx.y, group = H / G;
  auto at = [&](int j) {
    double acc = mode == 3 ? -INFINITY : 0.0;
    for (int h = g * group; h < (g + 1) * group; ++h) {
      const double v = raw[size_t(h) * n + j];
      acc = mode == 3 ? fmax(acc, v) : acc + v;
    }
    return mode == 2 ? acc / group : acc;
  };
  if (kernel <= 1) {
    out[size_t(g) * n + i] = at(i);
    return;
  }
  const int half = kernel / 2, lo = max(0, i - half), hi = min(n - 1, i + half);
  double v = max_pool ? -INFINITY : 0.0;
  for (int t = lo; t <= hi; ++t) v = max_pool ? fmax(v, at(t)) : v + at(t);
  out[size_t(g) * n + i] = max_pool ? v : v / double(kernel);
}

void kv_score_combine_pool(const float* raw, int n_heads, int n_groups, int mode, int n, int kernel, bool max_pool,
                           double* out, cudaStream_t stream) {
  if (n_groups <= 0 || n <= 0) return;
  kv_score_combine_pool_kernel<<<dim3(ceil_div(n, 256), n_groups), 256, 0, stream>>>(raw, n_heads, n_groups, mode, n,
                                                                                     kernel, max_pool, out);
  PCOMP_CUDA_LAUNCHED();
}

void kv_score_pool(const float* in, float* out, int rows, int n, int kernel, bool max_pool, cudaStream_t stream) {
  if (rows <= 0 || n <= 0) return;
  kv_score_pool_kernel<<<dim3(ceil_div(n, 256), rows), 256, 0, stream>>>(in, out, n, kernel, max_pool);
  PCOMP_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace pcomp
