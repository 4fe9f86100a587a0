// AVX512_BF16 matrix product for bf16 weights: x rounded to bf16 once per call, then VDPBF16PS
// (32 bf16 products per instruction, accumulated in f32) on 2 rows x 4 columns of W at a time.
// Compiled with target attributes; the dispatcher (cpu_features.cpp) only calls it on CPUs that
// report AVX512F+BW+BF16 and after a self-check against the reference. The development machine
// (AMD EPYC, AVX2 only) could not run it.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "../../threadpool.h"
#include "kernels.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512bf16"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512bf16")
#endif

namespace pcomp::cpu {
namespace {

// A store and a scalar sum: _mm512_reduce_add_ps trips GCC 12's -Wmaybe-uninitialized.
inline float reduce_add(__m512 v) {
  alignas(64) float b[16];
  _mm512_store_ps(b, v);
  float s = 0.f;
  for (float x : b) s += x;
  return s;
}

template <int R, int C>
void dot_tile(const uint16_t* x, size_t K, const uint16_t* w, float* y, size_t ldy, const float* bias) {
  __m512 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < C; ++j) acc[r][j] = _mm512_setzero_ps();
  for (size_t k = 0; k < K; k += 32) {
    const __mmask32 mask = K - k >= 32 ? __mmask32(0xffffffffu) : __mmask32((1u << (K - k)) - 1u);
    __m512i wv[C];
    for (int j = 0; j < C; ++j) wv[j] = _mm512_maskz_loadu_epi16(mask, w + j * K + k);
    for (int r = 0; r < R; ++r) {
      const __m512i xv = _mm512_maskz_loadu_epi16(mask, x + r * K + k);
      for (int j = 0; j < C; ++j) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], (__m512bh)xv, (__m512bh)wv[j]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < C; ++j) y[r * ldy + j] = reduce_add(acc[r][j]) + (bias ? bias[j] : 0.f);
}

}  // namespace

void matmul_avx512bf16(float* y, const float* x, const uint16_t* w, const float* bias, int T, int N, int K) {
  thread_local std::vector<uint16_t> xb;
  if (xb.size() < size_t(T) * K) xb.resize(size_t(T) * K);
  for (size_t i = 0; i < size_t(T) * K; ++i) xb[i] = f32_to_bf16(x[i]);
  const uint16_t* xs = xb.data();
  constexpr int CB = 16;
  pool().parallel_for((N + CB - 1) / CB, [&](int task) {
    const int n1 = std::min(N, task * CB + CB);
    for (int n = task * CB; n < n1;) {
      const int C = n + 4 <= n1 ? 4 : 1;
      const uint16_t* wr = w + size_t(n) * K;
      const float* b = bias ? bias + n : nullptr;
      int t = 0;
      for (; t + 2 <= T; t += 2) {
        if (C == 4) dot_tile<2, 4>(xs + size_t(t) * K, K, wr, y + size_t(t) * N + n, N, b);
        else dot_tile<2, 1>(xs + size_t(t) * K, K, wr, y + size_t(t) * N + n, N, b);
      }
      if (t < T) {
        if (C == 4) dot_tile<1, 4>(xs + size_t(t) * K, K, wr, y + size_t(t) * N + n, N, b);
        else dot_tile<1, 1>(xs + size_t(t) * K, K, wr, y + size_t(t) * N + n, N, b);
      }
      n += C;
    }
  });
}

}  // namespace pcomp::cpu

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
