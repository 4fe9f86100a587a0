// RMSNorm over rows: out[t, :] = x[t, :] / sqrt(mean(x[t, :]^2) + eps) * w. CPU twin: cpu_rmsnorm.
#pragma once
#include "common.cuh"

#define PCOMP_RMSNORM_BLOCK_SIZE 256

namespace pcomp {
namespace cuda {
// x, out: [T, D] f32 (may alias); w: [D] f32.
void rmsnorm_f32(float* out, const float* x, const float* w, int T, int D, float eps, cudaStream_t stream);
}  // namespace cuda
}  // namespace pcomp
