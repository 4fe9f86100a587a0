// CPU backend: the op table. Matrix products, attention and SiLU go to the kernels chosen at run
// time from the CPU's features (cpu_features.h, kernels.h); the light ops stay here, vectorised
// where the compiler targets AVX2. Threaded through the process pool. Each op is the reference
// twin of its CUDA kernel in cuda/.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../../threadpool.h"
#include "../backend.h"
#include "cpu_features.h"
#include "kernels.h"

#if defined(__AVX2__) && defined(__FMA__)
#include "simd_avx2.h"  // last: the build targets AVX2, so its helpers may be used directly here
#define PCOMP_AVX2 1
#endif

namespace pcomp {

namespace {

using cpu::active_kernels;
using cpu::KernelChoice;
using cpu::KernelSet;

#ifdef PCOMP_AVX2
using cpu::avx2::hsum;
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

void cpu_matmul(float* y, const float* x, Weight w, const float* bias, int T, int N, int K) {
  const KernelChoice& k = active_kernels();
  const KernelSet set = w.type == WeightType::BF16 ? k.bf16 : k.f32;
  if (set == KernelSet::Avx512Bf16) return cpu::matmul_avx512bf16(y, x, w.bf16(), bias, T, N, K);
  if (set == KernelSet::Avx2) return cpu::matmul_avx2(y, x, w, bias, T, N, K);
  cpu::matmul_reference(y, x, w, bias, T, N, K);
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
  if (active_kernels().f32 == KernelSet::Reference) return cpu::attention_reference(a);
  cpu::attention_avx2(a);
}

void cpu_silu_mul(float* gate, const float* up, size_t n) {
  if (active_kernels().f32 != KernelSet::Reference) return cpu::silu_mul_avx2(gate, up, n);
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
