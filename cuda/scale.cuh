// x[i] *= s (YaRN's attention factor on q and k after RoPE). CPU twin: cpu_scale.
#pragma once
#include "common.cuh"

#define PCOMP_SCALE_BLOCK_SIZE 256

namespace pcomp {
namespace cuda {
void scale_f32(float* x, float s, size_t n, cudaStream_t stream);
}  // namespace cuda
}  // namespace pcomp
