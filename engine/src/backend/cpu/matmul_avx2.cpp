// AVX2/FMA matrix products y = x W^T (+ bias), W an nn.Linear weight [N, K] in f32 or bf16.
//
// Two shapes of work:
// - Many rows (prefill): W is packed, per task and per K-block of KC, into panels of 16 columns
//   laid out k-major (bf16 widened on the way), and a 6x16 register tile broadcasts x and
//   streams a panel: 12 accumulators, two loads per six pairs of FMAs. A task is a block of TB
//   rows x NB columns, so the packed block (NB x KC f32 = 128 KiB) and the x block sit in L2.
// - Few rows (decode): packing would cost as much as the product, so 1-2 rows x 4 columns are
//   dotted straight from W's rows; this is memory-bound and bf16 halves the bytes read.
#include <algorithm>
#include <vector>

#include "../../threadpool.h"
#include "kernels.h"
#include "simd_avx2.h"

PCOMP_AVX2_BEGIN
namespace pcomp::cpu {
namespace {
using namespace avx2;

constexpr int MR = 6, NR = 16, KC = 256, NB = 128, TB = 192;
constexpr int kPackedMinRows = 12;  // below this, the dot-product path wins (bench/matmul)

inline float widen(float v) { return v; }
inline float widen(uint16_t v) { return bf16_to_f32(v); }

// dst[p][k][j] = w[n0 + 16p + j][k0 + k] for the nn rows from n0, zero past them.
template <class WT>
void pack_panels(float* dst, const WT* w, int K, int n0, int nn, int k0, int kc) {
  const int panels = (nn + NR - 1) / NR;
  for (int p = 0; p < panels; ++p) {
    float* d = dst + size_t(p) * kc * NR;
    for (int half = 0; half < 2; ++half) {
      const int first = p * NR + half * 8;
      const WT* src[8];
      for (int j = 0; j < 8; ++j) src[j] = first + j < nn ? w + size_t(n0 + first + j) * K + k0 : nullptr;
      int k = 0;
      for (; k + 8 <= kc; k += 8) {
        __m256 r[8];
        for (int j = 0; j < 8; ++j) r[j] = src[j] ? load8(src[j] + k) : _mm256_setzero_ps();
        transpose8(r);
        for (int i = 0; i < 8; ++i) _mm256_storeu_ps(d + size_t(k + i) * NR + half * 8, r[i]);
      }
      for (; k < kc; ++k)
        for (int j = 0; j < 8; ++j) d[size_t(k) * NR + half * 8 + j] = src[j] ? widen(src[j][k]) : 0.f;
    }
  }
}

// c[r, 0..nc) = (first ? bias : c[r, ...]) + sum_k x[r, k] * panel[k, ...], for R rows.
// The accumulators are spelled out as scalars-of-vectors (not arrays) so the compiler keeps all
// 2R of them in registers instead of spilling an array every iteration.
template <int R>
void tile(const float* x, size_t ldx, const float* panel, int kc, float* c, size_t ldc, int nc, bool first,
          const float* bias) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const float* x0 = x;
  const float* x1 = x + ldx;
  const float* x2 = x + 2 * ldx;
  const float* x3 = x + 3 * ldx;
  const float* x4 = x + 4 * ldx;
  const float* x5 = x + 5 * ldx;
  for (int k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(panel + k * NR), b1 = _mm256_loadu_ps(panel + k * NR + 8);
    __m256 a;
    a = _mm256_broadcast_ss(x0 + k), c00 = _mm256_fmadd_ps(a, b0, c00), c01 = _mm256_fmadd_ps(a, b1, c01);
    if (R > 1) a = _mm256_broadcast_ss(x1 + k), c10 = _mm256_fmadd_ps(a, b0, c10), c11 = _mm256_fmadd_ps(a, b1, c11);
    if (R > 2) a = _mm256_broadcast_ss(x2 + k), c20 = _mm256_fmadd_ps(a, b0, c20), c21 = _mm256_fmadd_ps(a, b1, c21);
    if (R > 3) a = _mm256_broadcast_ss(x3 + k), c30 = _mm256_fmadd_ps(a, b0, c30), c31 = _mm256_fmadd_ps(a, b1, c31);
    if (R > 4) a = _mm256_broadcast_ss(x4 + k), c40 = _mm256_fmadd_ps(a, b0, c40), c41 = _mm256_fmadd_ps(a, b1, c41);
    if (R > 5) a = _mm256_broadcast_ss(x5 + k), c50 = _mm256_fmadd_ps(a, b0, c50), c51 = _mm256_fmadd_ps(a, b1, c51);
  }
  alignas(32) float acc[6][NR];
  _mm256_store_ps(acc[0], c00), _mm256_store_ps(acc[0] + 8, c01);
  _mm256_store_ps(acc[1], c10), _mm256_store_ps(acc[1] + 8, c11);
  _mm256_store_ps(acc[2], c20), _mm256_store_ps(acc[2] + 8, c21);
  _mm256_store_ps(acc[3], c30), _mm256_store_ps(acc[3] + 8, c31);
  _mm256_store_ps(acc[4], c40), _mm256_store_ps(acc[4] + 8, c41);
  _mm256_store_ps(acc[5], c50), _mm256_store_ps(acc[5] + 8, c51);
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    if (nc == NR) {
      const __m256 z = _mm256_setzero_ps();
      const __m256 c0 = first ? (bias ? _mm256_loadu_ps(bias) : z) : _mm256_loadu_ps(cr);
      const __m256 c1 = first ? (bias ? _mm256_loadu_ps(bias + 8) : z) : _mm256_loadu_ps(cr + 8);
      _mm256_storeu_ps(cr, _mm256_add_ps(_mm256_load_ps(acc[r]), c0));
      _mm256_storeu_ps(cr + 8, _mm256_add_ps(_mm256_load_ps(acc[r] + 8), c1));
    } else {
      for (int j = 0; j < nc; ++j) cr[j] = acc[r][j] + (first ? (bias ? bias[j] : 0.f) : cr[j]);
    }
  }
}

template <class WT>
void gemm_packed(float* y, const float* x, const WT* w, const float* bias, int T, int N, int K) {
  const int tb = (T + TB - 1) / TB, nb = (N + NB - 1) / NB;
  pool().parallel_for(tb * nb, [&](int task) {
    const int t0 = (task / nb) * TB, t1 = std::min(T, t0 + TB);
    const int n0 = (task % nb) * NB, nn = std::min(NB, N - n0);
    const int panels = (nn + NR - 1) / NR;
    thread_local std::vector<float> packed;
    if (packed.size() < size_t(NB) * KC) packed.resize(size_t(NB) * KC);
    for (int k0 = 0; k0 < K; k0 += KC) {
      const int kc = std::min(KC, K - k0);
      pack_panels(packed.data(), w, K, n0, nn, k0, kc);
      for (int t = t0; t < t1; t += MR) {
        const float* xr = x + size_t(t) * K + k0;
        for (int p = 0; p < panels; ++p) {
          const int nc = std::min(NR, nn - p * NR);
          float* c = y + size_t(t) * N + n0 + p * NR;
          const float* b = bias ? bias + n0 + p * NR : nullptr;
          const float* panel = packed.data() + size_t(p) * kc * NR;
          switch (std::min(MR, t1 - t)) {
            case 6: tile<6>(xr, K, panel, kc, c, N, nc, k0 == 0, b); break;
            case 5: tile<5>(xr, K, panel, kc, c, N, nc, k0 == 0, b); break;
            case 4: tile<4>(xr, K, panel, kc, c, N, nc, k0 == 0, b); break;
            case 3: tile<3>(xr, K, panel, kc, c, N, nc, k0 == 0, b); break;
            case 2: tile<2>(xr, K, panel, kc, c, N, nc, k0 == 0, b); break;
            default: tile<1>(xr, K, panel, kc, c, N, nc, k0 == 0, b); break;
          }
        }
      }
    }
  });
}

// y[r, j] = x[r, :] . w[j, :] + bias[j] for R rows of x and C rows of w.
template <class WT, int R, int C>
void dot_tile(const float* x, size_t K, const WT* w, float* y, size_t ldy, const float* bias) {
  __m256 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < C; ++j) acc[r][j] = _mm256_setzero_ps();
  size_t k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256 wv[C];
    for (int j = 0; j < C; ++j) wv[j] = load8(w + j * K + k);
    for (int r = 0; r < R; ++r) {
      const __m256 xv = _mm256_loadu_ps(x + r * K + k);
      for (int j = 0; j < C; ++j) acc[r][j] = _mm256_fmadd_ps(xv, wv[j], acc[r][j]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < C; ++j) {
      float s = hsum(acc[r][j]);
      for (size_t kk = k; kk < K; ++kk) s += x[r * K + kk] * widen(w[j * K + kk]);
      y[r * ldy + j] = s + (bias ? bias[j] : 0.f);
    }
}

template <class WT>
void gemm_dot(float* y, const float* x, const WT* w, const float* bias, int T, int N, int K) {
  constexpr int CB = 16;  // columns per task: 16 rows of W stay in L2 while every x row passes
  pool().parallel_for((N + CB - 1) / CB, [&](int task) {
    const int n1 = std::min(N, task * CB + CB);
    for (int n = task * CB; n < n1;) {
      const int C = n + 4 <= n1 ? 4 : 1;
      const WT* wr = w + size_t(n) * K;
      const float* b = bias ? bias + n : nullptr;
      int t = 0;
      for (; t + 2 <= T; t += 2) {
        float* yr = y + size_t(t) * N + n;
        const float* xr = x + size_t(t) * K;
        if (C == 4) dot_tile<WT, 2, 4>(xr, K, wr, yr, N, b);
        else dot_tile<WT, 2, 1>(xr, K, wr, yr, N, b);
      }
      if (t < T) {
        float* yr = y + size_t(t) * N + n;
        const float* xr = x + size_t(t) * K;
        if (C == 4) dot_tile<WT, 1, 4>(xr, K, wr, yr, N, b);
        else dot_tile<WT, 1, 1>(xr, K, wr, yr, N, b);
      }
      n += C;
    }
  });
}

template <class WT>
void gemm(float* y, const float* x, const WT* w, const float* bias, int T, int N, int K) {
  if (T >= kPackedMinRows) gemm_packed(y, x, w, bias, T, N, K);
  else gemm_dot(y, x, w, bias, T, N, K);
}

}  // namespace

void matmul_avx2(float* y, const float* x, Weight w, const float* bias, int T, int N, int K) {
  if (w.type == WeightType::BF16) gemm(y, x, w.bf16(), bias, T, N, K);
  else gemm(y, x, w.f32(), bias, T, N, K);
}

}  // namespace pcomp::cpu
PCOMP_AVX2_END
