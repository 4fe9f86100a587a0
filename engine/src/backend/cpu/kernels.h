// The CPU backend's heavy kernels: a plain reference for each, and SIMD variants compiled with
// target attributes (so a generic build still carries them) and picked at run time from the CPU's
// features (cpu_features.h). Every variant computes the same op as its reference; tests compare
// them on awkward sizes (test/native/test_kernels.cpp).
#pragma once
#include <cstddef>
#include <cstdint>

#include "../backend.h"

namespace pcomp::cpu {

// Attention of n_q new queries of one sequence on host memory (the kernels' own form of one
// AttentionItem): KV head h holds kv_len[h] rows, the last n_q the new tokens.
struct AttnHost {
  int n_q = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0;
  const float* q = nullptr;             // [n_q, n_heads*head_dim], RoPE applied
  float* out = nullptr;                 // [n_q, n_heads*head_dim]
  const float* const* k = nullptr;      // per KV head: [kv_len[h], head_dim]
  const float* const* v = nullptr;      // per KV head: [kv_len[h], head_dim]
  const int* kv_len = nullptr;          // per KV head
  float scale = 1.0f;
  int sliding_window = 0;
};

// The host memory behind a CPU buffer (the CPU backend's own: nothing outside backend/cpu and
// its tests may call these).
void* host_ptr(Buffer* b);
const void* host_ptr(const Buffer* b);

// y[t, n] = sum_k x[t, k] * w[n, k] (+ bias[n]), accumulated in double: the slow, exact-ish twin.
void matmul_reference(float* y, const float* x, Weight w, const float* bias, int T, int N, int K);
// AVX2 + FMA, f32 arithmetic. Prefill-sized T: W packed (bf16 widened while packing) into
// 16-column panels, 6x16 register tiles. Small T (decode): 4-row dot products straight from W.
void matmul_avx2(float* y, const float* x, Weight w, const float* bias, int T, int N, int K);
// AVX512F + AVX512_BF16, bf16 weights only: x rounded to bf16, VDPBF16PS dot products, f32
// accumulation. Never run on the development machine (AMD, AVX2 only); guarded by a self-check.
void matmul_avx512bf16(float* y, const float* x, const uint16_t* w, const float* bias, int T, int N, int K);

// Online-softmax attention, one query at a time, scalar: the reference.
void attention_reference(const AttnHost& a);
// AVX2 + FMA: tiles of (queries x the KV head's query heads) against 64-key blocks, so each K/V
// block is loaded once for every query row of the tile. Needs head_dim % 8 == 0.
void attention_avx2(const AttnHost& a);

// gate[i] = silu(gate[i]) * up[i], vectorised exp, split across the pool.
void silu_mul_avx2(float* gate, const float* up, size_t n);

// The policy stages' ops (policy_ops.cpp): backend.h's kv_score, topk and calib_outliers.
void kv_score(const KvScoreArgs& a);
void topk(const double* scores, int rows, int n, const int* k, int32_t* out);
void calib_outliers(const CalibArgs& a);
// The attention trace's fold (fold_bins.cpp).
void fold_bins(const FoldBinsArgs& a);
// backend.h's attention_parts (attention_parts.cpp): double accumulation, one online softmax per row and head.
void attention_parts(const AttentionPartsArgs& a);

// bf16 <-> f32 (round to nearest even; NaN kept NaN).
inline float bf16_to_f32(uint16_t h) {
  union { uint32_t u; float f; } v{uint32_t(h) << 16};
  return v.f;
}
uint16_t f32_to_bf16(float f);

}  // namespace pcomp::cpu
