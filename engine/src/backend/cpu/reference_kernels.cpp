// The plain twins of the SIMD kernels: what every fast path is tested against, and what runs on a
// CPU without AVX2 (or with PCOMP_CPU_KERNEL=reference).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../../threadpool.h"
#include "kernels.h"

namespace pcomp::cpu {

uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);                                          // round to nearest even
  return uint16_t(u >> 16);
}

void matmul_reference(float* y, const float* x, Weight w, const float* bias, int T, int N, int K) {
  const float* wf = w.f32();
  const uint16_t* wb = w.bf16();
  pool().parallel_for(N, [&](int n) {
    for (int t = 0; t < T; ++t) {
      double acc = bias ? bias[n] : 0.0;
      const float* xr = x + size_t(t) * K;
      for (int k = 0; k < K; ++k) {
        const size_t i = size_t(n) * K + k;
        acc += double(xr[k]) * (wf ? wf[i] : bf16_to_f32(wb[i]));
      }
      y[size_t(t) * N + n] = float(acc);
    }
  });
}

void attention_reference(const AttnHost& a) {
  const int hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
  pool().parallel_for(a.n_heads * a.n_q, [&](int task) {
    const int h = task / a.n_q, i = task % a.n_q, kvh = h / group;
    const float* K = a.k[kvh];
    const float* V = a.v[kvh];
    const int last = a.kv_len[kvh] - a.n_q + i;  // inclusive
    const int first = a.sliding_window > 0 ? std::max(0, last - a.sliding_window + 1) : 0;
    const float* q = a.q + (size_t(i) * a.n_heads + h) * hd;
    float m = -std::numeric_limits<float>::infinity(), l = 0.f;
    std::vector<float> acc(hd, 0.f);
    for (int j = first; j <= last; ++j) {
      float s = 0.f;
      for (int d = 0; d < hd; ++d) s += q[d] * K[size_t(j) * hd + d];
      s *= a.scale;
      if (s > m) {
        const float corr = std::exp(m - s);
        l *= corr;
        for (int d = 0; d < hd; ++d) acc[d] *= corr;
        m = s;
      }
      const float p = std::exp(s - m);
      l += p;
      for (int d = 0; d < hd; ++d) acc[d] += p * V[size_t(j) * hd + d];
    }
    float* o = a.out + (size_t(i) * a.n_heads + h) * hd;
    const float inv = l > 0 ? 1.f / l : 0.f;
    for (int d = 0; d < hd; ++d) o[d] = acc[d] * inv;
  });
}

}  // namespace pcomp::cpu
