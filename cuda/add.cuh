// The residual add: x[i] += y[i]. CPU twin: cpu_add.
#pragma once
#include "common.cuh"

#define PCOMP_ADD_BLOCK_SIZE 256

namespace pcomp {
namespace cuda {
void add_f32(float* x, const float* y, size_t n, cudaStream_t stream);
}  // namespace cuda
}  // namespace pcomp
