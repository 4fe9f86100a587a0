// Every CPU op against the plainest possible reference, on awkward sizes.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "harness.h"
#include "test_util.h"
#include "threadpool.h"

using namespace pcomp;

using t::max_rel;
static std::vector<float> randv(size_t n, uint32_t seed, float scale = 1.f) { return t::randn(n, seed, scale); }

TEST(matmul_matches_reference_on_awkward_sizes) {
  const Backend& be = cpu_backend();
  for (int threads : {1, 2}) {
    set_threads(threads);
    const int shapes[][3] = {{1, 1, 1}, {1, 7, 13}, {3, 5, 9}, {17, 33, 65}, {64, 64, 64}, {65, 130, 31}, {5, 512, 64}};
    for (auto& s : shapes) {
      const int T = s[0], N = s[1], K = s[2];
      auto x = randv(size_t(T) * K, 1 + T), w = randv(size_t(N) * K, 2 + N), b = randv(N, 3);
      std::vector<float> y(size_t(T) * N);
      be.matmul(y.data(), x.data(), w.data(), b.data(), T, N, K);
      std::vector<double> r(size_t(T) * N);
      for (int t = 0; t < T; ++t)
        for (int n = 0; n < N; ++n) {
          double acc = b[n];
          for (int k = 0; k < K; ++k) acc += double(x[size_t(t) * K + k]) * w[size_t(n) * K + k];
          r[size_t(t) * N + n] = acc;
        }
      CHECK(max_rel(y, r) < 1e-5);
    }
  }
  set_threads(0);
}

TEST(rmsnorm_matches_reference) {
  const int T = 5, D = 37;
  auto x = randv(size_t(T) * D, 4), w = randv(D, 5);
  std::vector<float> y(size_t(T) * D);
  cpu_backend().rmsnorm(y.data(), x.data(), w.data(), T, D, 1e-5f);
  std::vector<double> r(size_t(T) * D);
  for (int t = 0; t < T; ++t) {
    double ss = 0;
    for (int i = 0; i < D; ++i) ss += double(x[t * D + i]) * x[t * D + i];
    double inv = 1.0 / std::sqrt(ss / D + 1e-5);
    for (int i = 0; i < D; ++i) r[t * D + i] = w[i] * x[t * D + i] * inv;
  }
  CHECK(max_rel(y, r) < 1e-6);
}

TEST(rope_rotates_halves_with_explicit_positions) {
  const int T = 3, H = 2, hd = 6;
  auto x = randv(size_t(T) * H * hd, 6);
  std::vector<float> y = x;
  const int32_t pos[T] = {0, 7, 131071};
  const float inv[3] = {1.0f, 0.1f, 0.01f};
  cpu_backend().rope(y.data(), pos, inv, T, H, hd);
  std::vector<double> r(x.size());
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < hd / 2; ++i) {
        const float* v = &x[(t * H + h) * hd];
        double a = double(pos[t]) * inv[i];
        r[(t * H + h) * hd + i] = v[i] * std::cos(a) - v[i + hd / 2] * std::sin(a);
        r[(t * H + h) * hd + i + hd / 2] = v[i + hd / 2] * std::cos(a) + v[i] * std::sin(a);
      }
  CHECK(max_rel(y, r) < 1e-6);
  // Position 0 is the identity.
  for (int i = 0; i < H * hd; ++i) CHECK(y[i] == x[i]);
}

TEST(attention_matches_naive_softmax_with_gqa_and_per_head_lengths) {
  const int H = 6, KV = 3, hd = 5, n_q = 4;
  const int lens[KV] = {9, 4, 17};  // each KV head has its own length (after eviction)
  std::vector<std::vector<float>> K(KV), Vv(KV);
  std::vector<const float*> kp(KV), vp(KV);
  for (int h = 0; h < KV; ++h) {
    K[h] = randv(size_t(lens[h]) * hd, 10 + h);
    Vv[h] = randv(size_t(lens[h]) * hd, 20 + h);
    kp[h] = K[h].data();
    vp[h] = Vv[h].data();
  }
  auto q = randv(size_t(n_q) * H * hd, 7);
  for (int window : {0, 3}) {
    std::vector<float> out(q.size());
    AttentionArgs a;
    a.n_q = n_q; a.n_heads = H; a.n_kv_heads = KV; a.head_dim = hd;
    a.q = q.data(); a.out = out.data(); a.k = kp.data(); a.v = vp.data(); a.kv_len = lens;
    a.scale = 0.37f; a.sliding_window = window;
    cpu_backend().attention(a);
    std::vector<double> r(q.size());
    for (int i = 0; i < n_q; ++i)
      for (int h = 0; h < H; ++h) {
        const int kvh = h / (H / KV), last = lens[kvh] - n_q + i;
        const int first = window ? std::max(0, last - window + 1) : 0;
        std::vector<double> s;
        double m = -1e300;
        for (int j = first; j <= last; ++j) {
          double d = 0;
          for (int e = 0; e < hd; ++e) d += double(q[(i * H + h) * hd + e]) * K[kvh][j * hd + e];
          s.push_back(d * 0.37);
          m = std::max(m, s.back());
        }
        double z = 0;
        for (double& v : s) { v = std::exp(v - m); z += v; }
        for (int e = 0; e < hd; ++e) {
          double acc = 0;
          for (int j = first; j <= last; ++j) acc += s[j - first] / z * Vv[kvh][j * hd + e];
          r[(i * H + h) * hd + e] = acc;
        }
      }
    CHECK(max_rel(out, r) < 1e-5);
  }
}

TEST(log_softmax_pick_and_argmax) {
  const int T = 3, V = 11;
  auto l = randv(size_t(T) * V, 8, 3.f);
  const int32_t tg[T] = {0, 10, -1};
  float lp[T];
  int32_t am[T];
  cpu_backend().log_softmax_pick(l.data(), tg, lp, am, T, V);
  for (int t = 0; t < T; ++t) {
    double m = *std::max_element(&l[t * V], &l[t * V] + V), z = 0;
    int best = int(std::max_element(&l[t * V], &l[t * V] + V) - &l[t * V]);
    for (int i = 0; i < V; ++i) z += std::exp(double(l[t * V + i]) - m);
    if (tg[t] >= 0) CHECK_NEAR(lp[t], l[t * V + tg[t]] - m - std::log(z), 1e-5);
    CHECK(am[t] == best);
  }
}

TEST(silu_mul_and_add) {
  std::vector<float> g = {-2.f, 0.f, 3.f}, u = {1.f, 2.f, -1.f}, x = {1.f, 1.f, 1.f};
  cpu_backend().silu_mul(g.data(), u.data(), 3);
  CHECK_NEAR(g[0], -2.0 / (1 + std::exp(2.0)), 1e-6);
  CHECK_NEAR(g[1], 0.0, 1e-7);
  CHECK_NEAR(g[2], -3.0 / (1 + std::exp(-3.0)), 1e-6);
  cpu_backend().add(x.data(), u.data(), 3);
  CHECK(x[0] == 2.f && x[1] == 3.f && x[2] == 0.f);
}

TEST(thread_pool_runs_every_index_once) {
  for (int threads : {1, 2, 3}) {
    set_threads(threads);
    for (int rep = 0; rep < 50; ++rep) {
      std::vector<std::atomic<int>> hits(257);
      pool().parallel_for(257, [&](int i) { hits[i]++; });
      for (auto& h : hits) CHECK(h.load() == 1);
    }
  }
  set_threads(0);
}
