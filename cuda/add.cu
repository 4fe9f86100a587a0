#include "add.cuh"

namespace pcomp {
namespace cuda {

static __global__ void add_f32_kernel(float* x, const float* y, size_t n) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] += y[i];
}

void add_f32(float* x, const float* y, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  add_f32_kernel<<<unsigned(ceil_div(n, size_t(PCOMP_ADD_BLOCK_SIZE))), PCOMP_ADD_BLOCK_SIZE, 0, stream>>>(x, y, n);
  PCOMP_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace pcomp
