// The CPU backend's heavy kernels: a plain reference for each, and SIMD variants compiled with
// target attributes (so a generic build still carries them) and picked at run time from the CPU's
// features (cpu_features.h). Every variant computes the same op as its reference; tests compare
// them on awkward sizes (test/native/test_kernels.cpp).
#pragma once
#include <cstddef>
#include <cstdint>

#include "../backend.h"

namespace pcomp::cpu {

// y[t, n] = sum_k x[t, k] * w[n, k] (+ bias[n]), accumulated in double: the slow, exact-ish twin.
void matmul_reference(float* y, const float* x, Weight w, const float* bias, int T, int N, int K);
// AVX2 + FMA, f32 arithmetic. Prefill-sized T: W packed (bf16 widened while packing) into
// 16-column panels, 6x16 register tiles. Small T (decode): 4-row dot products straight from W.
void matmul_avx2(float* y, const float* x, Weight w, const float* bias, int T, int N, int K);
// AVX512F + AVX512_BF16, bf16 weights only: x rounded to bf16, VDPBF16PS dot products, f32
// accumulation. Never run on the development machine (AMD, AVX2 only); guarded by a self-check.
void matmul_avx512bf16(float* y, const float* x, const uint16_t* w, const float* bias, int T, int N, int K);

// Online-softmax attention, one query at a time, scalar: the reference.
void attention_reference(const AttentionArgs& a);
// AVX2 + FMA: tiles of (queries x the KV head's query heads) against 64-key blocks, so each K/V
// block is loaded once for every query row of the tile. Needs head_dim % 8 == 0.
void attention_avx2(const AttentionArgs& a);

// gate[i] = silu(gate[i]) * up[i], vectorised exp, split across the pool.
void silu_mul_avx2(float* gate, const float* up, size_t n);

// bf16 <-> f32 (round to nearest even; NaN kept NaN).
inline float bf16_to_f32(uint16_t h) {
  union { uint32_t u; float f; } v{uint32_t(h) << 16};
  return v.f;
}
uint16_t f32_to_bf16(float f);

}  // namespace pcomp::cpu
