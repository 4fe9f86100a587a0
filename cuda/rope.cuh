// Rotate-half RoPE with explicit position ids. CPU twin: cpu_rope. Every scaling type (linear,
// dynamic NTK, llama3, static NTK) only changes inv_freq, which the host computes with
// rope_inv_freq() exactly as for the CPU; the kernels take it as data.
#pragma once
#include "common.cuh"

#define PCOMP_ROPE_BLOCK_SIZE 256

namespace pcomp {
namespace cuda {
// cos_sin: [T, half] float2 (cos, sin) of pos[t] * inv_freq[row(t) * half + i], the product and the
// trigonometry in double like the CPU twin (positions reach 128K, where f32 angles lose digits).
// row(t) = freq_row ? freq_row[t] : 0 lets the sequences of one batch carry their own inv_freq.
void rope_table(float2* cos_sin, const int32_t* pos, const float* inv_freq, const int32_t* freq_row, int T, int half,
                cudaStream_t stream);
// In place on x: [T, n_heads, head_dim] f32.
void rope_apply(float* x, const float2* cos_sin, int T, int n_heads, int head_dim, cudaStream_t stream);
}  // namespace cuda
}  // namespace pcomp
