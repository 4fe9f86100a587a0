#include "silu_mul.cuh"

namespace pcomp {
namespace cuda {

static __global__ void silu_mul_f32_kernel(float* gate, const float* up, size_t n) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = gate[i];
  gate[i] = g / (1.f + expf(-g)) * up[i];
}

void silu_mul_f32(float* gate, const float* up, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  silu_mul_f32_kernel<<<unsigned(ceil_div(n, size_t(PCOMP_SILU_MUL_BLOCK_SIZE))), PCOMP_SILU_MUL_BLOCK_SIZE, 0, stream>>>(
      gate, up, n);
  PCOMP_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace pcomp
