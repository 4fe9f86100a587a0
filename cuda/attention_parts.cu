// One warp per (query row, head): each lane runs an online softmax over every 32nd key of every
// part's range (f32 scores, as attention.cu), then the lanes' states are merged by log-sum-exp.
// Simple rather than fast: DCA's prefill calls it once per layer with the whole prompt.
#include <cmath>
#include <cstdio>

#include "attention_parts.cuh"

namespace pcomp {
namespace cuda {
namespace {
__global__ void attention_parts_kernel(const float* const* q, int n_parts, const int32_t* lo, const int32_t* hi,
                                       const bf16* const* k, const bf16* const* v, int n_q, int n_heads,
                                       int head_dim, float scale, float* out) {
  const int r = blockIdx.x, h = blockIdx.y, lane = threadIdx.x;
  float acc[PCOMP_ATTN_PARTS_MAX_HEAD_DIM];
  for (int d = 0; d < head_dim; ++d) acc[d] = 0.f;
  float m = -INFINITY, l = 0.f;
  const bf16* K = k[h];
  const bf16* V = v[h];
  for (int p = 0; p < n_parts; ++p) {
    const float* qr = q[p] + (size_t(r) * n_heads + h) * head_dim;
    const int a = lo[size_t(p) * n_q + r], b = hi[size_t(p) * n_q + r];
    for (int j = a + lane; j < b; j += 32) {
      const bf16* kr = K + size_t(j) * head_dim;
      float s = 0.f;
      for (int d = 0; d < head_dim; ++d) s += qr[d] * __bfloat162float(kr[d]);
      s *= scale;
      if (s > m) {
        const float c = __expf(m - s);
        l *= c;
        for (int d = 0; d < head_dim; ++d) acc[d] *= c;
        m = s;
      }
      const float w = __expf(s - m);
      l += w;
      const bf16* vr = V + size_t(j) * head_dim;
      for (int d = 0; d < head_dim; ++d) acc[d] += w * __bfloat162float(vr[d]);
    }
  }
  const float M = warp_max(m);
  const float c = m == -INFINITY ? 0.f : __expf(m - M);
  const float den = warp_sum(l * c);
  float* o = out + (size_t(r) * n_heads + h) * head_dim;
  for (int d = 0; d < head_dim; ++d) {
    const float x = warp_sum(acc[d] * c);
    if (lane == 0) o[d] = den > 0.f ? x / den : 0.f;
  }
}
}  // namespace

void attention_parts(const float* const* q, int n_parts, const int32_t* lo, const int32_t* hi, const bf16* const* k,
                     const bf16* const* v, int n_q, int n_heads, int head_dim, float scale, float* out,
                     cudaStream_t stream) {
  if (n_q <= 0 || n_heads <= 0) return;
  if (head_dim > PCOMP_ATTN_PARTS_MAX_HEAD_DIM) {
    fprintf(stderr, "attention_parts: head_dim %d above %d\n", head_dim, PCOMP_ATTN_PARTS_MAX_HEAD_DIM);
    PCOMP_CUDA_CHECK(cudaErrorInvalidValue);
  }
  attention_parts_kernel<<<dim3(unsigned(n_q), unsigned(n_heads)), 32, 0, stream>>>(q, n_parts, lo, hi, k, v, n_q,
                                                                                    n_heads, head_dim, scale, out);
  PCOMP_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace pcomp
