// The angle table is built once per forward call and shared by every layer's Q and K rotation.
#include "rope.cuh"

namespace pcomp {
namespace cuda {

static __global__ void rope_table_kernel(float2* cs, const int32_t* pos, const float* inv_freq, const int32_t* freq_row,
                                         int T, int half) {
  const size_t idx = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= size_t(T) * half) return;
  const int t = int(idx / half), i = int(idx % half);
  const int row = freq_row ? freq_row[t] : 0;
  double s, c;
  sincos(double(pos[t]) * double(inv_freq[size_t(row) * half + i]), &s, &c);
  cs[idx] = make_float2(float(c), float(s));
}

static __global__ void rope_apply_kernel(float* x, const float2* cs, int T, int n_heads, int hd) {
  const int half = hd / 2;
  const size_t idx = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= size_t(T) * n_heads * half) return;
  const int i = int(idx % half);
  const size_t th = idx / half;  // t * n_heads + h
  const int t = int(th / n_heads);
  float* v = x + th * hd;
  const float2 r = cs[size_t(t) * half + i];
  const float a = v[i], c = v[i + half];
  v[i] = a * r.x - c * r.y;
  v[i + half] = c * r.x + a * r.y;
}

void rope_table(float2* cos_sin, const int32_t* pos, const float* inv_freq, const int32_t* freq_row, int T, int half,
                cudaStream_t stream) {
  const size_t n = size_t(T) * half;
  if (n == 0) return;
  rope_table_kernel<<<unsigned(ceil_div(n, size_t(PCOMP_ROPE_BLOCK_SIZE))), PCOMP_ROPE_BLOCK_SIZE, 0, stream>>>(
      cos_sin, pos, inv_freq, freq_row, T, half);
  PCOMP_CUDA_LAUNCHED();
}

void rope_apply(float* x, const float2* cos_sin, int T, int n_heads, int head_dim, cudaStream_t stream) {
  const size_t n = size_t(T) * n_heads * (head_dim / 2);
  if (n == 0) return;
  rope_apply_kernel<<<unsigned(ceil_div(n, size_t(PCOMP_ROPE_BLOCK_SIZE))), PCOMP_ROPE_BLOCK_SIZE, 0, stream>>>(
      x, cos_sin, T, n_heads, head_dim);
  PCOMP_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace pcomp
