#include "embedding.cuh"

namespace pcomp {
namespace cuda {

static __global__ void embedding_bf16_kernel(float* out, const bf16* embed, const int32_t* tokens, int D) {
  const bf16* row = embed + size_t(tokens[blockIdx.x]) * D;
  float* o = out + size_t(blockIdx.x) * D;
  for (int i = threadIdx.x; i < D; i += blockDim.x) o[i] = __bfloat162float(row[i]);
}

void embedding_bf16(float* out, const bf16* embed, const int32_t* tokens, int T, int D, cudaStream_t stream) {
  if (T <= 0) return;
  embedding_bf16_kernel<<<T, PCOMP_EMBEDDING_BLOCK_SIZE, 0, stream>>>(out, embed, tokens, D);
  PCOMP_CUDA_LAUNCHED();
}

static __global__ void embedding_f32_kernel(float* out, const float* embed, const int32_t* tokens, int D) {
  const float* row = embed + size_t(tokens[blockIdx.x]) * D;
  float* o = out + size_t(blockIdx.x) * D;
  for (int i = threadIdx.x; i < D; i += blockDim.x) o[i] = row[i];
}

void embedding_f32(float* out, const float* embed, const int32_t* tokens, int T, int D, cudaStream_t stream) {
  if (T <= 0) return;
  embedding_f32_kernel<<<T, PCOMP_EMBEDDING_BLOCK_SIZE, 0, stream>>>(out, embed, tokens, D);
  PCOMP_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace pcomp
