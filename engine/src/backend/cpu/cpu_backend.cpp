// CPU backend: buffers are host memory (CpuBuffer), so every op is a direct call on the host
// pointers. Matrix products, attention and SiLU go to the kernels chosen at run time from the CPU's
// features (cpu_features.h, kernels.h); the light ops stay here, vectorised where the compiler
// targets AVX2; the policy stages' ops are in policy_ops.cpp. Threaded through the process pool.
// Each op is the twin of its CUDA kernel in cuda/.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
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

void cpu_attention(const cpu::AttnHost& a) {
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

void cpu_scale(float* x, float s, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] *= s;
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


// ---- buffers ---------------------------------------------------------------------------------------

struct CpuBuffer final : Buffer {
  void* p = nullptr;
  size_t bytes = 0;
  bool owned = false;
  ~CpuBuffer() override {
    if (owned) std::free(p);
  }
};

template <class T = float>
inline T* P(const View& v) {
  return v.buf ? static_cast<T*>(static_cast<CpuBuffer*>(v.buf)->p) + v.off : nullptr;
}
inline float* F(Buffer* b) { return static_cast<float*>(static_cast<CpuBuffer*>(b)->p); }

struct CpuBackend final : Backend {
  const char* name() const override { return "cpu"; }
  Buffer* alloc(size_t bytes) const override {
    auto* b = new CpuBuffer();
    b->p = std::aligned_alloc(64, ((std::max<size_t>(bytes, 1) + 63) / 64) * 64);
    if (!b->p) {
      delete b;
      throw std::bad_alloc();
    }
    b->bytes = bytes;
    b->owned = true;
    return b;
  }
  void free(Buffer* b) const override { delete b; }
  Buffer* wrap(const void* host, size_t bytes) const override {
    auto* b = new CpuBuffer();
    b->p = const_cast<void*>(host);
    b->bytes = bytes;
    return b;
  }
  DeviceWeight weight(const Weight& w, size_t n) const override {
    DeviceWeight d;
    d.type = w.type;
    d.buf = wrap(w.data, n * (w.type == WeightType::BF16 ? 2 : 4));
    return d;
  }
  void upload(Buffer* dst, size_t off, const void* src, size_t bytes) const override {
    if (bytes) std::memcpy(static_cast<char*>(static_cast<CpuBuffer*>(dst)->p) + off, src, bytes);
  }
  void download(void* dst, const Buffer* src, size_t off, size_t bytes) const override {
    if (bytes) std::memcpy(dst, static_cast<const char*>(static_cast<const CpuBuffer*>(src)->p) + off, bytes);
  }
  void copy(Buffer* dst, size_t doff, const Buffer* src, size_t soff, size_t bytes) const override {
    if (bytes)
      std::memmove(static_cast<char*>(static_cast<CpuBuffer*>(dst)->p) + doff,
                   static_cast<const char*>(static_cast<const CpuBuffer*>(src)->p) + soff, bytes);
  }
  WeightType kv_type() const override { return WeightType::F32; }

  void matmul(View y, View x, const DeviceWeight& w, View bias, int T, int N, int K) const override {
    Weight hw;
    hw.data = static_cast<CpuBuffer*>(w.buf)->p;
    hw.type = w.type;
    cpu_matmul(P(y), P(x), hw, P(bias), T, N, K);
  }
  void rmsnorm(View out, View x, View w, int T, int D, float eps) const override {
    cpu_rmsnorm(P(out), P(x), P(w), T, D, eps);
  }
  void rope(View x, View pos, View inv_freq, int T, int n_heads, int head_dim) const override {
    cpu_rope(P(x), P<int32_t>(pos), P(inv_freq), T, n_heads, head_dim);
  }
  void silu_mul(View gate, View up, size_t n) const override { cpu_silu_mul(P(gate), P(up), n); }
  void add(View x, View y, size_t n) const override { cpu_add(P(x), P(y), n); }
  void scale(View x, float s, size_t n) const override { cpu_scale(P(x), s, n); }
  void embedding(View out, const DeviceWeight& table, View tokens, int T, int D) const override {
    const int32_t* tok = P<int32_t>(tokens);
    float* o = P(out);
    const void* t = static_cast<CpuBuffer*>(table.buf)->p;
    for (int i = 0; i < T; ++i) {
      if (table.type == WeightType::F32) {
        const float* r = static_cast<const float*>(t) + size_t(tok[i]) * D;
        std::copy(r, r + D, o + size_t(i) * D);
      } else {
        const uint16_t* r = static_cast<const uint16_t*>(t) + size_t(tok[i]) * D;
        for (int d = 0; d < D; ++d) o[size_t(i) * D + d] = cpu::bf16_to_f32(r[d]);
      }
    }
  }
  void attention(const AttentionArgs& a) const override {
    thread_local std::vector<const float*> kp, vp;
    for (int i = 0; i < a.n_items; ++i) {
      const AttentionItem& it = a.items[i];
      if (kp.size() < size_t(a.n_kv_heads)) kp.resize(a.n_kv_heads), vp.resize(a.n_kv_heads);
      for (int h = 0; h < a.n_kv_heads; ++h) {
        kp[h] = F(it.k[h]);
        vp[h] = F(it.v[h]);
      }
      cpu::AttnHost h;
      h.n_q = it.n_q;
      h.n_heads = a.n_heads;
      h.n_kv_heads = a.n_kv_heads;
      h.head_dim = a.head_dim;
      h.q = P(it.q);
      h.out = P(it.out);
      h.k = kp.data();
      h.v = vp.data();
      h.kv_len = it.kv_len;
      h.scale = a.scale;
      h.sliding_window = a.sliding_window;
      cpu_attention(h);
    }
  }
  void decode_attention(const AttentionArgs& a) const override { attention(a); }
  void log_softmax_pick(View logits, View target, View logprob, View argmax, int T, int V) const override {
    cpu_log_softmax_pick(P(logits), P<int32_t>(target), P(logprob), P<int32_t>(argmax), T, V);
  }
  void kv_write(Buffer* dst, int row0, View src, size_t src_stride, int n, int hd) const override {
    float* d = F(dst) + size_t(row0) * hd;
    const float* s = P(src);
    for (int t = 0; t < n; ++t) std::memcpy(d + size_t(t) * hd, s + size_t(t) * src_stride, sizeof(float) * hd);
  }
  void kv_gather(Buffer* k, Buffer* v, const int32_t* keep, int n, int hd) const override {
    float* K = F(k);
    float* Vv = F(v);
    for (int i = 0; i < n; ++i) {
      const int j = keep[i];
      if (j == i) continue;
      std::memmove(K + size_t(i) * hd, K + size_t(j) * hd, sizeof(float) * hd);
      std::memmove(Vv + size_t(i) * hd, Vv + size_t(j) * hd, sizeof(float) * hd);
    }
  }
  void kv_rope_shift(Buffer* k, int row0, int n, int hd, View inv_freq, int delta) const override {
    if (n <= 0) return;
    thread_local std::vector<int32_t> shift;  // reused: a streaming decode step allocates nothing here
    shift.assign(size_t(n), delta);
    cpu_rope(F(k) + size_t(row0) * hd, shift.data(), P(inv_freq), n, 1, hd);
  }
  void kv_score(const KvScoreArgs& a) const override { cpu::kv_score(a); }
  void topk(View scores, int rows, int n, const int* k, View out) const override {
    cpu::topk(P<double>(scores), rows, n, k, P<int32_t>(out));
  }
  void calib_outliers(const CalibArgs& a) const override { cpu::calib_outliers(a); }
  // attention trace (pcomp attn)
  void fold_bins(const FoldBinsArgs& a) const override { cpu::fold_bins(a); }
  void attention_parts(const AttentionPartsArgs& a) const override { cpu::attention_parts(a); }
};

}  // namespace

namespace cpu {
void* host_ptr(Buffer* b) { return b ? static_cast<CpuBuffer*>(b)->p : nullptr; }
const void* host_ptr(const Buffer* b) { return b ? static_cast<const CpuBuffer*>(b)->p : nullptr; }
}  // namespace cpu

const Backend& cpu_backend() {
  static const CpuBackend b;
  return b;
}

}  // namespace pcomp
