// Matrix products y[t, n] = sum_k x[t, k] * w[n, k] + bias[n], w an nn.Linear weight [N, K].
// CPU twin: cpu_matmul.
//   matmul_bf16w: the model's products. Weights bf16, activations f32 rounded to bf16 as they are
//     staged, fp32 accumulation on the tensor cores (WMMA 16x16x16, sm_80+). T <= 8 rows (decode)
//     take a GEMV kernel instead, whose speed is bound by reading the weights once.
//   matmul_f32: plain fp32 SIMT tiles, for f32 weights through the op-level interface (backend.h).
//     Not used by the CUDA forward.
// cuBLAS is not required (this toolkit may ship without it); see README notes in cuda_backend.cu.
#pragma once
#include "common.cuh"

#define PCOMP_MATMUL_BM 128
#define PCOMP_MATMUL_BN 128
#define PCOMP_MATMUL_BK 32
#define PCOMP_MATMUL_BLOCK_SIZE 256
#define PCOMP_MATMUL_GEMV_MAX_ROWS 8

namespace pcomp {
namespace cuda {
// bias may be null. y must not alias x.
void matmul_bf16w(float* y, const float* x, const bf16* w, const float* bias, int T, int N, int K, cudaStream_t stream);
void matmul_f32(float* y, const float* x, const float* w, const float* bias, int T, int N, int K, cudaStream_t stream);
// dst[i] = bf16(src[i]) with round-to-nearest-even.
void convert_f32_to_bf16(bf16* dst, const float* src, size_t n, cudaStream_t stream);
void convert_bf16_to_f32(float* dst, const bf16* src, size_t n, cudaStream_t stream);
}  // namespace cuda
}  // namespace pcomp
