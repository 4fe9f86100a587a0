// Every op of backend.h on every present backend against a plain double-precision reference, in
// the style of ggml's test-backend-ops: each op x awkward shapes x dtypes. Inputs are made on the
// host, cross to the backend by upload (or kv_write for cache rows, which converts to the backend's
// KV dtype), and results come back by download, so the test uses exactly the interface the pipeline
// uses. The CPU backend runs always; the CUDA backend when the build has it and a GPU is usable,
// else its test SKIPs with the reason. Tolerances follow the backend's dtypes: f32 everywhere on
// the CPU (tight), bf16 weights, KV rows and tensor-core inputs on a GPU (loose); kept-index sets
// are equal on the CPU and compared by Jaccard similarity elsewhere (rounding may swap near-ties).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_features.h"
#include "harness.h"
#include "test_util.h"
#include "threadpool.h"

using namespace pcomp;

namespace {

using t::randn;

float bf16_round(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  float r;
  std::memcpy(&r, &u, 4);
  return r;
}

// Tolerances of one backend: relative to the reference's scale.
struct Tol {
  double f32 = 1e-5, attn = 1e-5, score = 1e-9, jaccard = 1.0;
  bool exact_sets = true;
};
Tol tol_of(const Backend& be) {
  Tol t;
  if (std::string(be.name()) != "cpu") {  // bf16 storage and tensor-core inputs
    t.f32 = 2e-2;
    t.attn = 3e-2;
    t.score = 3e-2;
    t.jaccard = 0.8;
    t.exact_sets = false;
  }
  return t;
}

// Buffers of one test on one backend, freed at the end.
struct Bufs {
  const Backend& be;
  std::vector<Buffer*> all;
  explicit Bufs(const Backend& b) : be(b) {}
  ~Bufs() {
    for (Buffer* b : all) be.free(b);
  }
  template <class T>
  View up(const std::vector<T>& host) {
    Buffer* b = be.alloc(std::max<size_t>(1, host.size()) * sizeof(T));
    be.upload(b, 0, host.data(), host.size() * sizeof(T));
    all.push_back(b);
    return View(b);
  }
  template <class T>
  View zeros(size_t n) {
    return up(std::vector<T>(n, T(0)));
  }
  template <class T>
  std::vector<T> down(View v, size_t n) {
    std::vector<T> out(n);
    be.download(out.data(), v.buf, v.off * sizeof(T), n * sizeof(T));
    return out;
  }
  // Rows [n, hd] as a KV buffer of the backend's KV dtype, through kv_write.
  Buffer* kv(const std::vector<float>& rows, int n, int hd, int cap = -1) {
    Buffer* b = be.alloc(size_t(std::max(1, cap < 0 ? n : cap)) * hd * be.kv_elem_bytes());
    all.push_back(b);
    if (n > 0) be.kv_write(b, 0, up(rows), size_t(hd), n, hd);
    return b;
  }
  std::vector<float> kv_rows(Buffer* b, int n, int hd) {
    // Reads KV rows back as f32: through a product with the identity would need weights; the
    // backends' KV dtype is f32 or bf16, so download the raw elements and widen.
    std::vector<float> out(size_t(n) * hd);
    if (be.kv_type() == WeightType::F32) {
      be.download(out.data(), b, 0, out.size() * sizeof(float));
    } else {
      std::vector<uint16_t> h(out.size());
      be.download(h.data(), b, 0, h.size() * 2);
      for (size_t i = 0; i < h.size(); ++i) {
        const uint32_t u = uint32_t(h[i]) << 16;
        std::memcpy(&out[i], &u, 4);
      }
    }
    return out;
  }
};

double rel(const std::vector<float>& a, const std::vector<double>& b) { return t::max_rel(a, b); }

double jaccard(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  std::set<int32_t> A(a.begin(), a.end()), B(b.begin(), b.end());
  if (A.empty() && B.empty()) return 1.0;
  size_t inter = 0;
  for (int32_t x : A) inter += B.count(x);
  return double(inter) / double(A.size() + B.size() - inter);
}

void check_sets(const Tol& tol, const std::vector<int32_t>& got, const std::vector<int32_t>& want, const char* what) {
  if (tol.exact_sets) {
    if (got != want) std::fprintf(stderr, "  %s: kept set differs\n", what);
    CHECK(got == want);
  } else {
    CHECK(got.size() == want.size());
    CHECK(jaccard(got, want) >= tol.jaccard);
  }
}

// ---- references ------------------------------------------------------------------------------

std::vector<double> ref_attention(const std::vector<float>& q, const std::vector<std::vector<float>>& K,
                                  const std::vector<std::vector<float>>& V, const std::vector<int>& lens, int n_q, int H,
                                  int KV, int hd, double scale, int window) {
  std::vector<double> r(size_t(n_q) * H * hd, 0.0);
  for (int i = 0; i < n_q; ++i)
    for (int h = 0; h < H; ++h) {
      const int kvh = h / (H / KV), last = lens[kvh] - n_q + i;
      const int first = window ? std::max(0, last - window + 1) : 0;
      if (last < first) continue;  // no visible key: zeros
      std::vector<double> s;
      double m = -1e300;
      for (int j = first; j <= last; ++j) {
        double d = 0;
        for (int e = 0; e < hd; ++e) d += double(q[(size_t(i) * H + h) * hd + e]) * K[kvh][size_t(j) * hd + e];
        s.push_back(d * scale);
        m = std::max(m, s.back());
      }
      double z = 0;
      for (double& v : s) { v = std::exp(v - m); z += v; }
      for (int e = 0; e < hd; ++e) {
        double acc = 0;
        for (int j = first; j <= last; ++j) acc += s[j - first] / z * V[kvh][size_t(j) * hd + e];
        r[(size_t(i) * H + h) * hd + e] = acc;
      }
    }
  return r;
}

// ---- the ops -----------------------------------------------------------------------------------

void op_matmul(const Backend& be, const Tol& tol) {
  const int shapes[][3] = {{1, 1, 1}, {1, 7, 13}, {3, 5, 9}, {17, 33, 65}, {64, 64, 64}, {65, 130, 31}, {5, 512, 64}, {9, 96, 200}};
  for (auto& s : shapes)
    for (bool bf16 : {false, true})
      for (bool bias : {false, true}) {
        Bufs b(be);
        const int T = s[0], N = s[1], K = s[2];
        auto x = randn(size_t(T) * K, 1 + T), w = randn(size_t(N) * K, 2 + N), bs = randn(N, 3);
        std::vector<uint16_t> wb(w.size());
        if (bf16)
          for (size_t i = 0; i < w.size(); ++i) {
            w[i] = bf16_round(w[i]);
            uint32_t u;
            std::memcpy(&u, &w[i], 4);
            wb[i] = uint16_t(u >> 16);
          }
        const Weight hw = bf16 ? Weight::from_bf16(wb.data()) : Weight(w.data());
        const DeviceWeight dw = be.weight(hw, w.size());
        b.all.push_back(dw.buf);
        View y = b.zeros<float>(size_t(T) * N);
        be.matmul(y, b.up(x), dw, bias ? b.up(bs) : View(), T, N, K);
        std::vector<double> r(size_t(T) * N);
        for (int t = 0; t < T; ++t)
          for (int n = 0; n < N; ++n) {
            double acc = bias ? bs[n] : 0.0;
            for (int k = 0; k < K; ++k) acc += double(x[size_t(t) * K + k]) * w[size_t(n) * K + k];
            r[size_t(t) * N + n] = acc;
          }
        // bf16 weights widen exactly, but a kernel may round x to bf16 as well (the opt-in
        // avx512bf16 CPU kernel, the GPU's tensor cores): then the error is bf16's.
        const bool rounds_x = bf16 && (!tol.exact_sets || cpu::active_kernels().bf16 == cpu::KernelSet::Avx512Bf16);
        CHECK(rel(b.down<float>(y, r.size()), r) < (rounds_x ? std::max(tol.f32, 2e-2) : tol.f32));
      }
}

void op_rmsnorm(const Backend& be, const Tol& tol) {
  for (auto [T, D] : std::vector<std::pair<int, int>>{{1, 1}, {5, 37}, {17, 64}, {3, 4096}}) {
    Bufs b(be);
    auto x = randn(size_t(T) * D, 4 + D), w = randn(D, 5);
    View y = b.zeros<float>(size_t(T) * D);
    be.rmsnorm(y, b.up(x), b.up(w), T, D, 1e-5f);
    std::vector<double> r(size_t(T) * D);
    for (int t = 0; t < T; ++t) {
      double ss = 0;
      for (int i = 0; i < D; ++i) ss += double(x[size_t(t) * D + i]) * x[size_t(t) * D + i];
      const double inv = 1.0 / std::sqrt(ss / D + 1e-5);
      for (int i = 0; i < D; ++i) r[size_t(t) * D + i] = w[i] * x[size_t(t) * D + i] * inv;
    }
    CHECK(rel(b.down<float>(y, r.size()), r) < std::max(1e-6, tol.f32 / 10));
  }
}

void op_rope(const Backend& be, const Tol& tol) {
  const int T = 4, H = 3, hd = 6;
  Bufs b(be);
  auto x = randn(size_t(T) * H * hd, 6);
  const std::vector<int32_t> pos = {0, 7, 131071, 3};
  const std::vector<float> inv = {1.0f, 0.1f, 0.01f};
  View y = b.up(x);
  be.rope(y, b.up(pos), b.up(inv), T, H, hd);
  std::vector<double> r(x.size());
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < hd / 2; ++i) {
        const float* v = &x[(size_t(t) * H + h) * hd];
        const double a = double(pos[t]) * inv[i];
        r[(size_t(t) * H + h) * hd + i] = v[i] * std::cos(a) - v[i + hd / 2] * std::sin(a);
        r[(size_t(t) * H + h) * hd + i + hd / 2] = v[i + hd / 2] * std::cos(a) + v[i] * std::sin(a);
      }
  const auto got = b.down<float>(y, r.size());
  CHECK(rel(got, r) < 1e-6);
  for (int i = 0; i < H * hd; ++i) CHECK(got[i] == x[i]);  // position 0 is the identity
  (void)tol;
}

void op_elementwise(const Backend& be, const Tol& tol) {
  for (size_t n : {size_t(1), size_t(3), size_t(1000), size_t(4097)}) {
    Bufs b(be);
    auto g = randn(n, 11, 3.f), u = randn(n, 12), x = randn(n, 13);
    View dg = b.up(g), dx = b.up(x);
    be.silu_mul(dg, b.up(u), n);
    be.add(dx, b.up(u), n);
    View ds = b.up(u);
    be.scale(ds, 1.2079441541679836f, n);  // YaRN's 0.1 ln(8) + 1
    std::vector<double> rg(n), rx(n), rs(n);
    for (size_t i = 0; i < n; ++i) {
      rg[i] = double(g[i]) / (1 + std::exp(-double(g[i]))) * u[i];
      rx[i] = double(x[i]) + u[i];
      rs[i] = double(u[i]) * double(1.2079441541679836f);
    }
    CHECK(rel(b.down<float>(dg, n), rg) < std::max(1e-6, tol.f32 / 10));
    CHECK(rel(b.down<float>(dx, n), rx) < 1e-7);
    CHECK(rel(b.down<float>(ds, n), rs) < 1e-7);
  }
}

void op_embedding(const Backend& be, const Tol&) {
  const int Vocab = 37, D = 19, T = 6;
  Bufs b(be);
  auto table = randn(size_t(Vocab) * D, 14);
  const std::vector<int32_t> tok = {0, 36, 5, 5, 17, 1};
  DeviceWeight dt;
  dt.buf = be.wrap(table.data(), table.size() * sizeof(float));
  dt.type = WeightType::F32;
  b.all.push_back(dt.buf);
  View out = b.zeros<float>(size_t(T) * D);
  be.embedding(out, dt, b.up(tok), T, D);
  const auto got = b.down<float>(out, size_t(T) * D);
  for (int t = 0; t < T; ++t)
    for (int d = 0; d < D; ++d) CHECK(got[size_t(t) * D + d] == table[size_t(tok[t]) * D + d]);
}

// Varlen items in one call (GQA, per-head lengths, windows, rows that see nothing), prefill and decode.
void op_attention(const Backend& be, const Tol& tol) {
  struct Case { int H, KV, hd; std::vector<int> n_q; std::vector<std::vector<int>> lens; };
  const std::vector<Case> cases = {
      {6, 3, 5, {4, 1}, {{9, 4, 17}, {1, 3, 2}}},
      {8, 2, 64, {70, 5, 1}, {{70, 100}, {5, 200}, {1, 333}}},
      {4, 4, 16, {1, 1, 1}, {{1, 64, 65}, {129, 2, 7}, {3, 3, 3}} },
      {3, 1, 24, {66}, {{66}}},
      {2, 1, 8, {3}, {{2}}},  // the first row sees nothing (its own entry was evicted): zeros
  };
  for (const Case& c : cases)
    for (int window : {0, 3, 100}) {
      Bufs b(be);
      const int n_items = int(c.n_q.size());
      std::vector<std::vector<std::vector<float>>> K(n_items), V(n_items);
      std::vector<std::vector<Buffer*>> kb(n_items), vb(n_items);
      std::vector<std::vector<float>> q(n_items);
      std::vector<View> out(n_items);
      std::vector<AttentionItem> items(n_items);
      bool decode = true;
      for (int s = 0; s < n_items; ++s) {
        decode = decode && c.n_q[s] == 1;
        for (int h = 0; h < c.KV; ++h) {
          const int len = c.lens[s][h];
          K[s].push_back(randn(size_t(len) * c.hd, 30 + 7 * s + h, 2.f));
          V[s].push_back(randn(size_t(len) * c.hd, 40 + 7 * s + h));
          if (be.kv_type() == WeightType::BF16)  // the reference sees what the cache holds
            for (auto* m : {&K[s].back(), &V[s].back()})
              for (float& f : *m) f = bf16_round(f);
          kb[s].push_back(b.kv(K[s].back(), len, c.hd));
          vb[s].push_back(b.kv(V[s].back(), len, c.hd));
        }
        q[s] = randn(size_t(c.n_q[s]) * c.H * c.hd, 50 + s, 2.f);
        out[s] = b.up(std::vector<float>(q[s].size(), 7.f));
        items[s].n_q = c.n_q[s];
        items[s].q = b.up(q[s]);
        items[s].out = out[s];
        items[s].k = kb[s].data();
        items[s].v = vb[s].data();
        items[s].kv_len = c.lens[s].data();
      }
      AttentionArgs a;
      a.n_heads = c.H;
      a.n_kv_heads = c.KV;
      a.head_dim = c.hd;
      a.scale = 1.f / std::sqrt(float(c.hd));
      a.sliding_window = window;
      a.items = items.data();
      a.n_items = n_items;
      for (int pass = 0; pass < (decode ? 2 : 1); ++pass) {
        if (pass == 0) be.attention(a);
        else be.decode_attention(a);
        for (int s = 0; s < n_items; ++s) {
          const auto r = ref_attention(q[s], K[s], V[s], c.lens[s], c.n_q[s], c.H, c.KV, c.hd, a.scale, window);
          CHECK(rel(b.down<float>(out[s], r.size()), r) < tol.attn);
        }
      }
    }
}

void op_log_softmax_pick(const Backend& be, const Tol& tol) {
  for (auto [T, V] : std::vector<std::pair<int, int>>{{1, 1}, {3, 11}, {5, 32000}}) {
    Bufs b(be);
    auto l = randn(size_t(T) * V, 8 + V, 3.f);
    std::vector<int32_t> tg(T);
    for (int t = 0; t < T; ++t) tg[t] = t == 2 ? -1 : (t * 7919) % V;
    View lp = b.zeros<float>(T), am = b.zeros<int32_t>(T);
    be.log_softmax_pick(b.up(l), b.up(tg), lp, am, T, V);
    const auto glp = b.down<float>(lp, T);
    const auto gam = b.down<int32_t>(am, T);
    for (int t = 0; t < T; ++t) {
      const float* r = &l[size_t(t) * V];
      const double m = *std::max_element(r, r + V);
      double z = 0;
      for (int i = 0; i < V; ++i) z += std::exp(double(r[i]) - m);
      const double want = tg[t] >= 0 ? r[tg[t]] - m - std::log(z) : 0.0;
      CHECK_NEAR(glp[t], want, 1e-5 * std::max(1.0, std::fabs(want)) + (tol.exact_sets ? 0 : 1e-4));
      CHECK(gam[t] == int(std::max_element(r, r + V) - r));
    }
  }
}

void op_kv_rows(const Backend& be, const Tol& tol) {
  const int hd = 12, n = 9;
  Bufs b(be);
  auto rows = randn(size_t(n) * 3 * hd, 60);  // [n, 3 heads * hd]: write head 1's rows
  Buffer* k = be.alloc(size_t(n + 2) * hd * be.kv_elem_bytes());
  Buffer* v = be.alloc(size_t(n + 2) * hd * be.kv_elem_bytes());
  b.all.push_back(k);
  b.all.push_back(v);
  View src = b.up(rows);
  be.kv_write(k, 0, src.at(hd), size_t(3) * hd, n, hd);
  be.kv_write(v, 0, src.at(2 * hd), size_t(3) * hd, n, hd);
  auto want_row = [&](int head, int t, int e) {
    const float f = rows[(size_t(t) * 3 + head) * hd + e];
    return be.kv_type() == WeightType::BF16 ? bf16_round(f) : f;
  };
  auto got = b.kv_rows(k, n, hd);
  for (int t = 0; t < n; ++t)
    for (int e = 0; e < hd; ++e) CHECK(got[size_t(t) * hd + e] == want_row(1, t, e));
  // Gather keeps rows in order, in place, in both K and V.
  const std::vector<int32_t> keep = {0, 2, 3, 8};
  be.kv_gather(k, v, keep.data(), int(keep.size()), hd);
  got = b.kv_rows(k, int(keep.size()), hd);
  auto gv = b.kv_rows(v, int(keep.size()), hd);
  for (size_t i = 0; i < keep.size(); ++i)
    for (int e = 0; e < hd; ++e) {
      CHECK(got[i * hd + e] == want_row(1, keep[i], e));
      CHECK(gv[i * hd + e] == want_row(2, keep[i], e));
    }
  // Re-rotation by delta equals RoPE at the shifted position (rows 1..3 move by -2).
  std::vector<float> inv(hd / 2);
  for (int i = 0; i < hd / 2; ++i) inv[i] = float(std::pow(10000.0, -2.0 * i / hd));
  be.kv_rope_shift(k, 1, 3, hd, b.up(inv), -2);
  const auto shifted = b.kv_rows(k, 4, hd);
  std::vector<double> r(size_t(4) * hd);
  for (int t = 0; t < 4; ++t)
    for (int i = 0; i < hd / 2; ++i) {
      const double a = t == 0 ? 0.0 : -2.0 * inv[i];
      const double x0 = got[size_t(t) * hd + i], x1 = got[size_t(t) * hd + i + hd / 2];
      r[size_t(t) * hd + i] = x0 * std::cos(a) - x1 * std::sin(a);
      r[size_t(t) * hd + i + hd / 2] = x1 * std::cos(a) + x0 * std::sin(a);
    }
  CHECK(rel(shifted, r) < std::max(1e-6, tol.f32));
  // copy: byte ranges between buffers.
  std::vector<float> a = randn(50, 61), z(50, 0.f);
  View da = b.up(a), dz = b.up(z);
  be.copy(dz.buf, 10 * sizeof(float), da.buf, 5 * sizeof(float), 20 * sizeof(float));
  const auto gz = b.down<float>(dz, 50);
  for (int i = 0; i < 50; ++i) CHECK(gz[i] == (i >= 10 && i < 30 ? a[i - 5] : 0.f));
}

// The observation-window score: raw softmax sums per query head, the group combines, pooling.
std::vector<std::vector<double>> ref_kv_score(const KvScoreArgs& a, const std::vector<float>& q,
                                              const std::vector<std::vector<float>>& K) {
  const int H = a.n_heads, hd = a.head_dim, per = H / a.n_sets, nc = a.cand_end - a.cand_start;
  std::vector<std::vector<double>> raw(H, std::vector<double>(nc, 0.0));
  for (int h = 0; h < H; ++h) {
    const int set = h / per;
    for (int i = a.row0; i < a.n_q; ++i) {
      const int vis = a.visible ? a.visible[size_t(i - a.row0) * a.n_sets + set] : a.kv_len[set] - a.n_q + i + 1;
      std::vector<double> s(vis);
      double m = -1e300, z = 0;
      for (int j = 0; j < vis; ++j) {
        double d = 0;
        for (int e = 0; e < hd; ++e) d += double(q[(size_t(i) * H + h) * hd + e]) * K[set][size_t(j) * hd + e];
        s[j] = d * a.scale;
        m = std::max(m, s[j]);
      }
      for (double& v : s) z += (v = std::exp(v - m));
      for (int j = a.cand_start; j < std::min(a.cand_end, vis); ++j) raw[h][j - a.cand_start] += s[j] / z / a.div;
    }
  }
  std::vector<std::vector<double>> g;
  if (a.combine == HeadCombine::None) g = raw;
  else {
    const int G = a.n_groups, group = H / G;
    g.assign(G, std::vector<double>(nc, 0.0));
    for (int gi = 0; gi < G; ++gi)
      for (int j = 0; j < nc; ++j) {
        double acc = a.combine == HeadCombine::GroupMax ? -1e300 : 0.0;
        for (int h = gi * group; h < (gi + 1) * group; ++h)
          acc = a.combine == HeadCombine::GroupMax ? std::max(acc, raw[h][j]) : acc + raw[h][j];
        g[gi][j] = a.combine == HeadCombine::GroupMean ? acc / group : acc;
      }
  }
  if (a.pool_kernel > 1)
    for (auto& row : g) {
      std::vector<double> p(nc);
      for (int i = 0; i < nc; ++i) {
        double acc = a.max_pool ? -1e300 : 0.0;
        for (int j = i - a.pool_kernel / 2; j <= i + a.pool_kernel / 2; ++j)
          if (j >= 0 && j < nc) acc = a.max_pool ? std::max(acc, row[j]) : acc + row[j];
        p[i] = a.max_pool ? acc : acc / a.pool_kernel;
      }
      row = p;
    }
  return g;
}

std::vector<int32_t> ref_topk(const std::vector<double>& v, int k) {
  std::vector<int32_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return v[a] > v[b]; });
  idx.resize(std::max(0, std::min<int>(k, int(v.size()))));
  std::sort(idx.begin(), idx.end());
  return idx;
}

void op_kv_score_topk(const Backend& be, const Tol& tol) {
  struct Case { int H, sets, G, hd, n_q, w, len; HeadCombine comb; int pool; bool maxp; bool vis; };
  const std::vector<Case> cases = {
      {4, 2, 2, 8, 9, 4, 30, HeadCombine::GroupSum, 7, true, false},    // kvEvict: group-sum, max pool
      {4, 2, 2, 8, 9, 4, 30, HeadCombine::GroupSum, 5, false, false},   // avg pool
      {4, 4, 4, 8, 5, 5, 12, HeadCombine::None, 1, true, false},        // expanded heads, no pooling
      {6, 3, 3, 16, 7, 7, 40, HeadCombine::GroupMean, 0, true, true},   // calibration, visible prefixes
      {6, 3, 3, 16, 7, 3, 40, HeadCombine::GroupMax, 0, true, true},
      {8, 8, 2, 8, 3, 3, 65, HeadCombine::GroupMean, 0, true, true},    // expanded cache, GQA groups
  };
  for (const Case& c : cases) {
    Bufs b(be);
    std::vector<std::vector<float>> K(c.sets);
    std::vector<Buffer*> kb(c.sets);
    std::vector<int> lens(c.sets, c.len);
    for (int s = 0; s < c.sets; ++s) {
      K[s] = randn(size_t(c.len) * c.hd, 70 + s, 2.f);
      if (be.kv_type() == WeightType::BF16)
        for (float& f : K[s]) f = bf16_round(f);
      kb[s] = b.kv(K[s], c.len, c.hd);
    }
    auto q = randn(size_t(c.n_q) * c.H * c.hd, 80 + c.H, 2.f);
    std::vector<int> visible(size_t(c.w) * c.sets);
    for (int r = 0; r < c.w; ++r)
      for (int s = 0; s < c.sets; ++s) visible[size_t(r) * c.sets + s] = c.len - c.n_q + (c.n_q - c.w + r) + 1 - (s % 2);
    KvScoreArgs a;
    a.q = b.up(q);
    a.n_q = c.n_q;
    a.row0 = c.n_q - c.w;
    a.n_heads = c.H;
    a.n_sets = c.sets;
    a.head_dim = c.hd;
    a.k = kb.data();
    a.kv_len = lens.data();
    a.visible = c.vis ? visible.data() : nullptr;
    a.cand_start = c.vis ? 0 : 1;
    a.cand_end = c.vis ? c.len : c.len - c.w;
    a.scale = 1.0 / std::sqrt(double(c.hd));
    a.div = c.vis ? c.w : 1;
    a.combine = c.comb;
    a.n_groups = c.G;
    a.pool_kernel = c.pool;
    a.max_pool = c.maxp;
    const int nc = a.cand_end - a.cand_start;
    a.out = b.zeros<double>(size_t(c.G) * nc);
    be.kv_score(a);
    const auto got = b.down<double>(a.out, size_t(c.G) * nc);
    const auto want = ref_kv_score(a, q, K);
    double num = 0, den = 0;
    for (int g = 0; g < c.G; ++g)
      for (int j = 0; j < nc; ++j) {
        num = std::max(num, std::fabs(got[size_t(g) * nc + j] - want[g][j]));
        den = std::max(den, std::fabs(want[g][j]));
      }
    CHECK(num / std::max(den, 1e-30) < tol.score);
    // Top-k of the backend's own scores, against the reference top-k of the reference scores.
    std::vector<int> ks(c.G);
    for (int g = 0; g < c.G; ++g) ks[g] = std::max(0, nc / 2 - g);
    View idx = b.zeros<int32_t>(size_t(c.G) * nc);
    be.topk(a.out, c.G, nc, ks.data(), idx);
    const auto gi = b.down<int32_t>(idx, size_t(c.G) * nc);
    for (int g = 0; g < c.G; ++g) {
      std::vector<int32_t> kept(gi.begin() + size_t(g) * nc, gi.begin() + size_t(g) * nc + ks[g]);
      CHECK(std::is_sorted(kept.begin(), kept.end()));
      check_sets(tol, kept, ref_topk(want[g], ks[g]), "topk");
    }
  }
  // Ties go to the lower index; k beyond n is clamped.
  Bufs b(be);
  const std::vector<double> s = {1, 3, 3, 2, 3, 0};
  View idx = b.zeros<int32_t>(s.size() * 2);
  const std::vector<double> two = [&] { auto v = s; v.insert(v.end(), s.begin(), s.end()); return v; }();
  const int ks[2] = {2, 9};
  be.topk(b.up(two), 2, int(s.size()), ks, idx);
  const auto gi = b.down<int32_t>(idx, s.size() * 2);
  CHECK((std::vector<int32_t>(gi.begin(), gi.begin() + 2) == std::vector<int32_t>{1, 2}));
  CHECK((std::vector<int32_t>(gi.begin() + 6, gi.begin() + 12) == std::vector<int32_t>{0, 1, 2, 3, 4, 5}));
}

std::vector<std::vector<int32_t>> ref_calib(const CalibArgs& c, const std::vector<double>& score) {
  const int n = c.span_end - c.span_start;
  auto in_region = [&](int p) {
    switch (c.region) {
      case CalibRegion::Sink: return p < c.sink;
      case CalibRegion::Recent: return c.strict ? p > n - c.recent : p >= n - c.recent;
      case CalibRegion::Middle: return c.strict ? (p > c.sink && p < n - c.recent) : (p >= c.sink && p < n - c.recent);
      default: return true;
    }
  };
  std::vector<std::vector<int32_t>> ev(c.rows);
  size_t most = 0;
  for (int r = 0; r < c.rows; ++r) {
    for (int j = c.span_start; j < c.span_end; ++j)
      if (score[size_t(r) * c.L + j] > c.threshold && in_region(j - c.span_start)) ev[r].push_back(j);
    most = std::max(most, ev[r].size());
  }
  if (c.equalise)
    for (int r = 0; r < c.rows; ++r) {
      std::vector<std::pair<double, int>> rest;
      for (int j = c.span_start; j < c.span_end; ++j)
        if (std::find(ev[r].begin(), ev[r].end(), j) == ev[r].end()) rest.push_back({score[size_t(r) * c.L + j], j});
      std::stable_sort(rest.begin(), rest.end(), [](auto& x, auto& y) { return x.first < y.first; });
      for (size_t i = 0; ev[r].size() < most; ++i) ev[r].push_back(rest[i].second);
      std::sort(ev[r].begin(), ev[r].end());
    }
  return ev;
}

void op_calib_outliers(const Backend& be, const Tol& tol) {
  const int rows = 3, L = 41;
  std::vector<double> score(size_t(rows) * L);
  for (size_t i = 0; i < score.size(); ++i) score[i] = std::fabs(std::sin(0.7 * double(i) + 1.3)) * 0.2;
  for (CalibRegion region : {CalibRegion::Sink, CalibRegion::Recent, CalibRegion::Middle, CalibRegion::All})
    for (bool strict : {false, true})
      for (bool equalise : {false, true}) {
        Bufs b(be);
        CalibArgs c;
        c.score = b.up(score);
        c.rows = rows;
        c.L = L;
        c.span_start = 2;
        c.span_end = 37;
        c.region = region;
        c.threshold = 0.15;
        c.sink = 5;
        c.recent = 6;
        c.strict = strict;
        c.equalise = equalise;
        c.evict = b.zeros<int32_t>(size_t(rows) * L);
        c.count = b.zeros<int32_t>(rows);
        be.calib_outliers(c);
        const auto cnt = b.down<int32_t>(c.count, rows);
        const auto ev = b.down<int32_t>(c.evict, size_t(rows) * L);
        const auto want = ref_calib(c, score);
        for (int r = 0; r < rows; ++r) {
          CHECK(cnt[r] >= 0 && cnt[r] <= L);
          std::vector<int32_t> got(ev.begin() + size_t(r) * L, ev.begin() + size_t(r) * L + std::max(0, cnt[r]));
          check_sets(tol, got, want[r], "calib_outliers");
        }
      }
}

// ---- attention trace (pcomp attn) ----
// fold_bins: awkward shapes (a set longer than the stride is clamped, out-of-range and negative bins
// count nowhere, more bins than fit in the device's shared memory, key counts past one block's slice).
void op_fold_bins(const Backend& be, const Tol& tol) {
  struct Shape { int rows, sets, L, n_bins; };
  for (const Shape sh : {Shape{1, 1, 1, 1}, Shape{5, 2, 37, 7}, Shape{4, 4, 9000, 300}, Shape{3, 1, 20000, 5000}}) {
    std::vector<double> score(size_t(sh.rows) * sh.L);
    for (size_t i = 0; i < score.size(); ++i) score[i] = std::fabs(std::sin(0.37 * double(i) + 0.5));
    std::vector<int32_t> bin(size_t(sh.sets) * sh.L);
    for (size_t i = 0; i < bin.size(); ++i) bin[i] = int32_t((i * 7919u) % size_t(sh.n_bins + 3)) - 1;  // -1 .. n_bins+1
    std::vector<int> row_set(sh.rows), len(sh.sets);
    for (int r = 0; r < sh.rows; ++r) row_set[r] = (r * 3 + 1) % sh.sets;
    for (int s = 0; s < sh.sets; ++s) len[s] = s == 0 ? sh.L + 5 : std::max(0, sh.L - 3 * s);
    Bufs b(be);
    FoldBinsArgs a;
    a.score = b.up(score);
    a.rows = sh.rows;
    a.L = sh.L;
    a.row_set = row_set.data();
    a.len = len.data();
    a.bin = b.up(bin);
    a.n_sets = sh.sets;
    a.n_bins = sh.n_bins;
    a.out = b.up(std::vector<double>(size_t(sh.rows) * sh.n_bins, 7.0));  // overwritten, not added to
    be.fold_bins(a);
    const auto got = b.down<double>(a.out, size_t(sh.rows) * sh.n_bins);
    std::vector<double> want(got.size(), 0.0);
    double scale = 0;
    for (int r = 0; r < sh.rows; ++r) {
      const int s = row_set[r];
      for (int j = 0; j < std::min(len[s], sh.L); ++j) {
        const int k = bin[size_t(s) * sh.L + j];
        if (k >= 0 && k < sh.n_bins) want[size_t(r) * sh.n_bins + k] += score[size_t(r) * sh.L + j];
      }
    }
    for (double w : want) scale = std::max(scale, std::fabs(w));
    double err = 0;
    for (size_t i = 0; i < got.size(); ++i) err = std::max(err, std::fabs(got[i] - want[i]));
    CHECK(err <= 1e-12 * std::max(1.0, scale) + (tol.exact_sets ? 0.0 : 1e-9 * scale));
  }
}

// attention_parts: parts with their own queries and key ranges (empty, overlapping none, a row no
// part covers) against one double-precision softmax over the union.
void op_attention_parts(const Backend& be, const Tol& tol) {
  struct Case { int H, KV, hd, n_q, len, parts; };
  for (const Case& c : std::vector<Case>{{6, 3, 5, 7, 40, 3}, {4, 1, 64, 3, 130, 2}, {2, 2, 16, 5, 9, 1}}) {
    Bufs b(be);
    std::vector<std::vector<float>> K, V;
    std::vector<Buffer*> kb, vb;
    for (int h = 0; h < c.KV; ++h) {
      K.push_back(randn(size_t(c.len) * c.hd, 70 + h, 2.f));
      V.push_back(randn(size_t(c.len) * c.hd, 80 + h));
      if (be.kv_type() == WeightType::BF16)
        for (auto* m : {&K.back(), &V.back()})
          for (float& f : *m) f = bf16_round(f);
      kb.push_back(b.kv(K.back(), c.len, c.hd));
      vb.push_back(b.kv(V.back(), c.len, c.hd));
    }
    std::vector<std::vector<float>> q;
    std::vector<View> qv;
    std::vector<int32_t> lo(size_t(c.parts) * c.n_q), hi(lo.size());
    for (int p = 0; p < c.parts; ++p) {
      q.push_back(randn(size_t(c.n_q) * c.H * c.hd, 90 + p, 2.f));
      qv.push_back(b.up(q.back()));
      for (int r = 0; r < c.n_q; ++r) {  // disjoint slices of the keys; row 0 of part 0 empty
        const int w = c.len / c.parts;
        lo[size_t(p) * c.n_q + r] = p * w + (r % 3);
        hi[size_t(p) * c.n_q + r] = (p == 0 && r == 0) ? lo[size_t(p) * c.n_q + r] : std::min(c.len, p * w + w - (r % 2));
      }
    }
    if (c.parts == 1) lo[1] = hi[1] = 0;  // a row no part covers: zeros
    View out = b.up(std::vector<float>(size_t(c.n_q) * c.H * c.hd, 7.f));
    AttentionPartsArgs a;
    a.n_heads = c.H;
    a.n_kv_heads = c.KV;
    a.head_dim = c.hd;
    a.scale = 1.f / std::sqrt(float(c.hd));
    a.n_q = c.n_q;
    a.n_parts = c.parts;
    a.q = qv.data();
    a.lo = lo.data();
    a.hi = hi.data();
    a.k = kb.data();
    a.v = vb.data();
    a.out = out;
    be.attention_parts(a);
    std::vector<double> want(size_t(c.n_q) * c.H * c.hd, 0.0);
    for (int r = 0; r < c.n_q; ++r)
      for (int h = 0; h < c.H; ++h) {
        const int g = h / (c.H / c.KV);
        std::vector<double> s;
        std::vector<int> key;
        for (int p = 0; p < c.parts; ++p)
          for (int j = lo[size_t(p) * c.n_q + r]; j < hi[size_t(p) * c.n_q + r]; ++j) {
            double d = 0;
            for (int e = 0; e < c.hd; ++e) d += double(q[p][(size_t(r) * c.H + h) * c.hd + e]) * K[g][size_t(j) * c.hd + e];
            s.push_back(d * a.scale);
            key.push_back(j);
          }
        if (s.empty()) continue;
        const double m = *std::max_element(s.begin(), s.end());
        double z = 0;
        for (double& x : s) { x = std::exp(x - m); z += x; }
        for (size_t t = 0; t < s.size(); ++t)
          for (int e = 0; e < c.hd; ++e) want[(size_t(r) * c.H + h) * c.hd + e] += s[t] / z * V[g][size_t(key[t]) * c.hd + e];
      }
    CHECK(rel(b.down<float>(out, want.size()), want) < tol.attn);
  }
}

void run_all(const Backend& be) {
  const Tol tol = tol_of(be);
  for (int threads : {1, 2}) {
    set_threads(threads);
    op_matmul(be, tol);
    op_rmsnorm(be, tol);
    op_rope(be, tol);
    op_elementwise(be, tol);
    op_embedding(be, tol);
    op_attention(be, tol);
    op_log_softmax_pick(be, tol);
    op_kv_rows(be, tol);
    op_kv_score_topk(be, tol);
    op_calib_outliers(be, tol);
    op_fold_bins(be, tol);
    op_attention_parts(be, tol);
  }
  set_threads(0);
}

}  // namespace

TEST(backend_ops_cpu_match_the_reference) { run_all(cpu_backend()); }

TEST(backend_ops_cuda_match_the_reference) {
  const char* why = "";
  const Backend* cuda = cuda_backend(&why);
  if (!cuda) SKIP(std::string("backend_ops on cuda: ") + (why && *why ? why : "no CUDA backend"));
  run_all(*cuda);
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
