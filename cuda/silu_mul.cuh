// SwiGLU's gate: gate[i] = silu(gate[i]) * up[i]. CPU twin: cpu_silu_mul.
#pragma once
#include "common.cuh"

#define PCOMP_SILU_MUL_BLOCK_SIZE 256

namespace pcomp {
namespace cuda {
void silu_mul_f32(float* gate, const float* up, size_t n, cudaStream_t stream);
}  // namespace cuda
}  // namespace pcomp
