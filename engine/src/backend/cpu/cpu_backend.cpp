// CPU backend: plain C++ with AVX2/FMA paths where the compiler targets them, threaded through
// the process pool. Each op is the reference twin of its CUDA kernel in cuda/.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../../threadpool.h"
#include "../backend.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define PCOMP_AVX2 1
#endif

namespace pcomp {

namespace {

#ifdef PCOMP_AVX2
inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  __m128 sh = _mm_movehdup_ps(lo);
  __m128 s = _mm_add_ps(lo, sh);
  sh = _mm_movehl_ps(sh, s);
  return _mm_cvtss_f32(_mm_add_ss(s, sh));
}
#endif

inline float dot(const float* a, const float* b, int n) {
  int i = 0;
  float s = 0.f;
#ifdef PCOMP_AVX2
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  s = hsum(_mm256_add_ps(acc0, acc1));
#endif
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// A 4x4 register tile: rows x0..x3 of X against rows w0..w3 of W.
inline void dot4x4(const float* const* x, const float* const* w, int K, float out[4][4]) {
  int k = 0;
#ifdef PCOMP_AVX2
  __m256 acc[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = _mm256_setzero_ps();
  for (; k + 8 <= K; k += 8) {
    __m256 wv[4];
    for (int j = 0; j < 4; ++j) wv[j] = _mm256_loadu_ps(w[j] + k);
    for (int i = 0; i < 4; ++i) {
      __m256 xv = _mm256_loadu_ps(x[i] + k);
      for (int j = 0; j < 4; ++j) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) out[i][j] = hsum(acc[i][j]);
#else
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) out[i][j] = 0.f;
#endif
  for (; k < K; ++k)
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) out[i][j] += x[i][k] * w[j][k];
}

void cpu_matmul(float* y, const float* x, const float* w, const float* bias, int T, int N, int K) {
  // Tasks are (row block, column block) pairs so that both one-token decode (T=1, many columns)
  // and long prefills (many rows) split evenly across threads.
  const int TB = 64, NB = 64;
  const int tb = (T + TB - 1) / TB, nb = (N + NB - 1) / NB;
  pool().parallel_for(tb * nb, [&](int task) {
    const int t0 = (task / nb) * TB, t1 = std::min(T, t0 + TB);
    const int n0 = (task % nb) * NB, n1 = std::min(N, n0 + NB);
    int t = t0;
    for (; t + 4 <= t1; t += 4) {
      const float* xr[4] = {x + size_t(t) * K, x + size_t(t + 1) * K, x + size_t(t + 2) * K, x + size_t(t + 3) * K};
      int n = n0;
      for (; n + 4 <= n1; n += 4) {
        const float* wr[4] = {w + size_t(n) * K, w + size_t(n + 1) * K, w + size_t(n + 2) * K, w + size_t(n + 3) * K};
        float o[4][4];
        dot4x4(xr, wr, K, o);
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) y[size_t(t + i) * N + n + j] = o[i][j] + (bias ? bias[n + j] : 0.f);
      }
      for (; n < n1; ++n)
        for (int i = 0; i < 4; ++i) y[size_t(t + i) * N + n] = dot(xr[i], w + size_t(n) * K, K) + (bias ? bias[n] : 0.f);
    }
    for (; t < t1; ++t)
      for (int n = n0; n < n1; ++n)
        y[size_t(t) * N + n] = dot(x + size_t(t) * K, w + size_t(n) * K, K) + (bias ? bias[n] : 0.f);
  });
}

void cpu_rmsnorm(float* out, const float* x, const float* w, int T, int D, float eps) {
  pool().parallel_for((T + 15) / 16, [&](int b) {
    for (int t = b * 16; t < std::min(T, b * 16 + 16); ++t) {
      const float* xr = x + size_t(t) * D;
      float ss = dot(xr, xr, D);
      float r = 1.0f / std::sqrt(ss / float(D) + eps);
      float* o = out + size_t(t) * D;
      for (int i = 0; i < D; ++i) o[i] = w[i] * (xr[i] * r);
    }
  });
}

void cpu_rope(float* x, const int32_t* pos, const float* inv_freq, int T, int n_heads, int head_dim) {
  const int half = head_dim / 2;
  pool().parallel_for((T + 15) / 16, [&](int b) {
    std::vector<float> cs(half), sn(half);
    for (int t = b * 16; t < std::min(T, b * 16 + 16); ++t) {
      for (int i = 0; i < half; ++i) {
        // Angles in double: positions reach 128K, where f32 products lose digits.
        double ang = double(pos[t]) * double(inv_freq[i]);
        cs[i] = float(std::cos(ang));
        sn[i] = float(std::sin(ang));
      }
      for (int h = 0; h < n_heads; ++h) {
        float* v = x + (size_t(t) * n_heads + h) * head_dim;
        for (int i = 0; i < half; ++i) {
          float a = v[i], c = v[i + half];
          v[i] = a * cs[i] - c * sn[i];
          v[i + half] = c * cs[i] + a * sn[i];
        }
      }
    }
  });
}

void cpu_attention(const AttentionArgs& a) {
  const int hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
  const int QB = 16;  // queries per task
  const int qblocks = (a.n_q + QB - 1) / QB;
  pool().parallel_for(a.n_heads * qblocks, [&](int task) {
    const int h = task / qblocks, qb = task % qblocks;
    const int kvh = h / group;
    const float* K = a.k[kvh];
    const float* V = a.v[kvh];
    const int len = a.kv_len[kvh];
    std::vector<float> acc(hd);
    for (int i = qb * QB; i < std::min(a.n_q, qb * QB + QB); ++i) {
      const float* q = a.q + (size_t(i) * a.n_heads + h) * hd;
      const int last = len - a.n_q + i;  // inclusive
      const int first = a.sliding_window > 0 ? std::max(0, last - a.sliding_window + 1) : 0;
      float m = -std::numeric_limits<float>::infinity(), l = 0.f;
      std::fill(acc.begin(), acc.end(), 0.f);
      for (int j = first; j <= last; ++j) {
        float s = dot(q, K + size_t(j) * hd, hd) * a.scale;
        if (s > m) {
          float corr = std::exp(m - s);
          l *= corr;
          for (int d = 0; d < hd; ++d) acc[d] *= corr;
          m = s;
        }
        float p = std::exp(s - m);
        l += p;
        const float* vr = V + size_t(j) * hd;
        for (int d = 0; d < hd; ++d) acc[d] += p * vr[d];
      }
      float* o = a.out + (size_t(i) * a.n_heads + h) * hd;
      const float inv = l > 0 ? 1.f / l : 0.f;
      for (int d = 0; d < hd; ++d) o[d] = acc[d] * inv;
    }
  });
}

void cpu_silu_mul(float* gate, const float* up, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    float g = gate[i];
    gate[i] = g / (1.f + std::exp(-g)) * up[i];
  }
}

void cpu_add(float* x, const float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] += y[i];
}

void cpu_log_softmax_pick(const float* logits, const int32_t* target, float* out_logprob, int32_t* out_argmax, int T,
                          int V) {
  pool().parallel_for(T, [&](int t) {
    const float* r = logits + size_t(t) * V;
    int best = 0;
    float m = r[0];
    for (int i = 1; i < V; ++i)
      if (r[i] > m) { m = r[i]; best = i; }
    double s = 0;
    for (int i = 0; i < V; ++i) s += std::exp(double(r[i]) - m);
    if (out_logprob) out_logprob[t] = target && target[t] >= 0 ? float(double(r[target[t]]) - m - std::log(s)) : 0.f;
    if (out_argmax) out_argmax[t] = best;
  });
}

bool cpu_supports(Op) { return true; }

}  // namespace

const Backend& cpu_backend() {
  static const Backend b{"cpu",         cpu_supports, cpu_matmul, cpu_rmsnorm,         cpu_rope,
                         cpu_attention, cpu_silu_mul, cpu_add,    cpu_log_softmax_pick};
  return b;
}

}  // namespace pcomp
