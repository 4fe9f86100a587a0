#include "scale.cuh"

namespace pcomp {
namespace cuda {

static __global__ void scale_f32_kernel(float* x, float s, size_t n) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= s;
}

void scale_f32(float* x, float s, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  scale_f32_kernel<<<unsigned(ceil_div(n, size_t(PCOMP_SCALE_BLOCK_SIZE))), PCOMP_SCALE_BLOCK_SIZE, 0, stream>>>(x, s, n);
  PCOMP_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace pcomp
