// The CPU kernels one by one against their plain references (backend/cpu/kernels.h), on awkward
// sizes that hit every tail: rows below and above the packed-path threshold, columns that are not
// a multiple of the 16-wide panels, K not a multiple of 8, head_dim 8..72, GQA groups, windows.
// Also the run-time dispatch for CPUs this machine is not, and the bf16 path's documented error.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/kernels.h"
#include "harness.h"
#include "test_util.h"
#include "threadpool.h"

using namespace pcomp;
using namespace pcomp::cpu;

namespace {
using t::randn;
double rel_err(const std::vector<float>& a, const std::vector<float>& b) { return t::max_rel(a, b); }
std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> o(v.size());
  for (size_t i = 0; i < v.size(); ++i) o[i] = f32_to_bf16(v[i]);
  return o;
}
bool machine_has_avx2() {
  const CpuFeatures f = detect_cpu_features();
  return f.avx2 && f.fma;
}
// T spans the dot-product path (< 12 rows) and the packed path, with row remainders 1..5 of the
// 6-row tile; N and K leave remainders for the 16-column panels, the 4-column dots and 8-wide loads.
const int kShapes[][3] = {{1, 1, 1},     {1, 7, 13},     {2, 5, 9},      {3, 33, 65},    {5, 130, 300},
                          {11, 17, 256}, {12, 16, 8},    {13, 130, 257}, {17, 129, 513}, {37, 200, 31},
                          {64, 64, 64},  {97, 256, 520}, {200, 33, 70}};
}  // namespace

TEST(bf16_rounds_to_nearest_even_and_keeps_nan) {
  CHECK(f32_to_bf16(1.0f) == 0x3f80);
  CHECK(bf16_to_f32(0x3f80) == 1.0f);
  // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties go to the even mantissa (1.0).
  CHECK(f32_to_bf16(1.0f + 1.0f / 256) == 0x3f80);
  CHECK(f32_to_bf16(1.0f + 3.0f / 256) == 0x3f82);  // halfway between 0x3f81 and 0x3f82: even is 0x3f82
  CHECK(f32_to_bf16(-2.5f) == 0xc020);
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
  CHECK(std::isinf(bf16_to_f32(f32_to_bf16(INFINITY))));
}

TEST(matmul_avx2_f32_matches_reference) {
  if (!machine_has_avx2()) SKIP("this CPU has no AVX2/FMA");
  for (int threads : {1, 2}) {
    set_threads(threads);
    for (auto& s : kShapes) {
      const int T = s[0], N = s[1], K = s[2];
      auto x = randn(size_t(T) * K, 1 + T), w = randn(size_t(N) * K, 2 + N), b = randn(N, 3);
      for (bool with_bias : {false, true}) {
        std::vector<float> y(size_t(T) * N, 123.f), r(size_t(T) * N);
        const float* bias = with_bias ? b.data() : nullptr;
        matmul_avx2(y.data(), x.data(), Weight(w.data()), bias, T, N, K);
        matmul_reference(r.data(), x.data(), Weight(w.data()), bias, T, N, K);
        const double e = rel_err(y, r);
        CHECK(e < 2e-6);
        if (!(e < 2e-6)) std::fprintf(stderr, "    T=%d N=%d K=%d bias=%d threads=%d: %g\n", T, N, K, with_bias, threads, e);
      }
    }
  }
  set_threads(0);
}

TEST(matmul_avx2_bf16_weights_match_reference_on_the_same_bf16_values) {
  if (!machine_has_avx2()) SKIP("this CPU has no AVX2/FMA");
  for (int threads : {1, 2}) {
    set_threads(threads);
    for (auto& s : kShapes) {
      const int T = s[0], N = s[1], K = s[2];
      auto x = randn(size_t(T) * K, 11 + T), b = randn(N, 13);
      auto wb = to_bf16(randn(size_t(N) * K, 12 + N));
      std::vector<float> y(size_t(T) * N), r(size_t(T) * N);
      matmul_avx2(y.data(), x.data(), Weight::from_bf16(wb.data()), b.data(), T, N, K);
      matmul_reference(r.data(), x.data(), Weight::from_bf16(wb.data()), b.data(), T, N, K);
      CHECK(rel_err(y, r) < 2e-6);
    }
  }
  set_threads(0);
}

// The documented tolerance of bf16 storage: each weight is rounded to 8 mantissa bits (relative
// error <= 2^-9); with random signs the errors of a K-term sum partly cancel, so the output error
// relative to the output's scale stays well under 1% for these sizes (measured: ~0.2-0.4%).
TEST(bf16_weights_stay_within_one_percent_of_f32) {
  for (auto& s : kShapes) {
    const int T = s[0], N = s[1], K = s[2];
    if (K < 8) continue;  // a handful of terms says nothing about cancellation
    auto x = randn(size_t(T) * K, 21 + T), w = randn(size_t(N) * K, 22 + N);
    auto wb = to_bf16(w);
    std::vector<float> y32(size_t(T) * N), y16(size_t(T) * N);
    t::Wrap h;
    cpu_backend().matmul(h(y32.data()), h(x.data()), h.weight(Weight(w.data())), View(), T, N, K);
    cpu_backend().matmul(h(y16.data()), h(x.data()), h.weight(Weight::from_bf16(wb.data())), View(), T, N, K);
    const double e = rel_err(y16, y32);
    CHECK(e < 1e-2);
    CHECK(e > 0);  // the bf16 path really ran on rounded weights
  }
}

TEST(attention_avx2_matches_reference_over_head_dims_groups_and_windows) {
  if (!machine_has_avx2()) SKIP("this CPU has no AVX2/FMA");
  struct Case { int H, KV, hd, n_q; std::vector<int> lens; };
  const std::vector<Case> cases = {
      {8, 4, 8, 1, {1, 5, 64, 65}},            // decode, stories260K's head_dim
      {8, 4, 8, 70, {70, 100, 200, 333}},      // prefill over an older cache
      {4, 4, 16, 130, {130, 130, 131, 500}},   // no GQA, QB = 64 rows of queries
      {32, 8, 64, 19, {19, 83, 1000, 64, 65, 128, 129, 20}},
      {6, 3, 72, 5, {9, 5, 17}},               // head_dim with an 8-wide tail in P.V
      {3, 1, 24, 66, {66}},                    // group of 3: rows not a multiple of 4
  };
  for (int threads : {1, 2}) {
    set_threads(threads);
    for (const Case& c : cases) {
      std::vector<std::vector<float>> K(c.KV), V(c.KV);
      std::vector<const float*> kp(c.KV), vp(c.KV);
      for (int h = 0; h < c.KV; ++h) {
        K[h] = randn(size_t(c.lens[h]) * c.hd, 30 + h, 2.f);
        V[h] = randn(size_t(c.lens[h]) * c.hd, 40 + h);
        kp[h] = K[h].data();
        vp[h] = V[h].data();
      }
      auto q = randn(size_t(c.n_q) * c.H * c.hd, 50 + c.hd, 2.f);
      for (int window : {0, 3, 100}) {
        cpu::AttnHost a;
        a.n_q = c.n_q; a.n_heads = c.H; a.n_kv_heads = c.KV; a.head_dim = c.hd;
        a.q = q.data(); a.k = kp.data(); a.v = vp.data(); a.kv_len = c.lens.data();
        a.scale = 1.f / std::sqrt(float(c.hd)); a.sliding_window = window;
        std::vector<float> out(q.size(), 7.f), ref(q.size());
        a.out = out.data();
        attention_avx2(a);
        a.out = ref.data();
        attention_reference(a);
        const double e = rel_err(out, ref);
        CHECK(e < 2e-5);
        if (!(e < 2e-5)) std::fprintf(stderr, "    hd=%d n_q=%d window=%d: %g\n", c.hd, c.n_q, window, e);
      }
    }
  }
  set_threads(0);
}

TEST(silu_mul_avx2_matches_formula) {
  if (!machine_has_avx2()) SKIP("this CPU has no AVX2/FMA");
  const size_t n = 40000 + 5;  // several tasks and a scalar tail
  auto g = randn(n, 60, 4.f), u = randn(n, 61);
  g[0] = -100.f, g[1] = 100.f, g[2] = 0.f;
  std::vector<float> y = g;
  silu_mul_avx2(y.data(), u.data(), n);
  double worst = 0;
  for (size_t i = 0; i < n; ++i) {
    const double r = double(g[i]) / (1.0 + std::exp(-double(g[i]))) * u[i];
    worst = std::max(worst, std::fabs(y[i] - r) / std::max(1.0, std::fabs(r)));
  }
  CHECK(worst < 1e-5);
}

TEST(kernel_dispatch_picks_by_features_and_request) {
  CpuFeatures none;
  CpuFeatures zen3;  // this development machine's kind: AVX2/FMA/F16C, no AVX-512
  zen3.avx2 = zen3.fma = zen3.f16c = true;
  CpuFeatures spr = zen3;  // Sapphire Rapids class: AVX512_BF16 and AMX
  spr.avx512f = spr.avx512bw = spr.avx512bf16 = spr.amx_tile = spr.amx_bf16 = true;
  CpuFeatures avx512_no_bf16 = zen3;
  avx512_no_bf16.avx512f = avx512_no_bf16.avx512bw = true;

  KernelChoice k = choose_kernels(none, nullptr);
  CHECK(k.f32 == KernelSet::Reference && k.bf16 == KernelSet::Reference);
  CHECK(!k.note.empty());
  k = choose_kernels(zen3, "");
  CHECK(k.f32 == KernelSet::Avx2 && k.bf16 == KernelSet::Avx2 && k.note.empty());
  k = choose_kernels(spr, "auto");  // exact by default: bf16 weights widened, activations stay f32
  CHECK(k.f32 == KernelSet::Avx2 && k.bf16 == KernelSet::Avx2);
  CHECK(k.note.find("AMX") != std::string::npos);
  k = choose_kernels(spr, "avx512bf16");  // opt-in
  CHECK(k.f32 == KernelSet::Avx2 && k.bf16 == KernelSet::Avx512Bf16);
  k = choose_kernels(avx512_no_bf16, nullptr);
  CHECK(k.bf16 == KernelSet::Avx2);
  k = choose_kernels(spr, "avx2");
  CHECK(k.f32 == KernelSet::Avx2 && k.bf16 == KernelSet::Avx2);
  k = choose_kernels(spr, "reference");
  CHECK(k.f32 == KernelSet::Reference && k.bf16 == KernelSet::Reference);
  k = choose_kernels(zen3, "avx512bf16");  // asked for what the CPU lacks: falls back, says so
  CHECK(k.bf16 == KernelSet::Avx2 && k.note.find("lacks AVX512_BF16") != std::string::npos);
  k = choose_kernels(none, "avx2");
  CHECK(k.f32 == KernelSet::Reference && k.note.find("lacks AVX2") != std::string::npos);
  k = choose_kernels(zen3, "sse9");
  CHECK(k.f32 == KernelSet::Avx2 && k.note.find("unknown PCOMP_CPU_KERNEL") != std::string::npos);
}

TEST(active_kernels_match_this_cpu) {
  const CpuFeatures f = detect_cpu_features();
  std::printf("    cpu features: %s; f32 kernels: %s, bf16 kernels: %s%s%s\n", f.describe().c_str(),
              kernel_set_name(active_kernels().f32), kernel_set_name(active_kernels().bf16),
              active_kernels().note.empty() ? "" : "; ", active_kernels().note.c_str());
  if (std::getenv("PCOMP_CPU_KERNEL")) SKIP("PCOMP_CPU_KERNEL is set; the choice is the request's");
  CHECK(active_kernels().f32 == (f.avx2 && f.fma ? KernelSet::Avx2 : KernelSet::Reference));
  CHECK(active_kernels().bf16 == active_kernels().f32);  // bf16 widened by default (exact)
}

TEST(matmul_avx512bf16_matches_reference_where_the_cpu_has_it) {
  const CpuFeatures f = detect_cpu_features();
  if (!(f.avx512f && f.avx512bw && f.avx512bf16)) SKIP("this CPU has no AVX512_BF16 (" + f.describe() + ")");
  for (auto& s : kShapes) {
    const int T = s[0], N = s[1], K = s[2];
    auto x = randn(size_t(T) * K, 71 + T), b = randn(N, 73);
    auto wb = to_bf16(randn(size_t(N) * K, 72 + N));
    std::vector<float> y(size_t(T) * N), r(size_t(T) * N);
    matmul_avx512bf16(y.data(), x.data(), wb.data(), b.data(), T, N, K);
    matmul_reference(r.data(), x.data(), Weight::from_bf16(wb.data()), b.data(), T, N, K);
    CHECK(rel_err(y, r) < 1e-2);  // x is rounded to bf16 by this kernel
  }
}
