// The CPU twins of the policy stages' ops (backend.h): the observation-window KV score, top-k and
// calibration outliers. Scores are computed and kept in double, a row of probabilities at a time
// (never a matrix), so kept sets match the float64 oracle (test/oracle/policies) exactly.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "kernels.h"

namespace pcomp::cpu {

namespace {
template <class T = float>
T* P(const View& v) {
  return v.buf ? static_cast<T*>(host_ptr(v.buf)) + v.off : nullptr;
}
}  // namespace

void kv_score(const KvScoreArgs& a) {
  const int H = a.n_heads, hd = a.head_dim, sets = a.n_sets, per_set = H / sets;
  const int cs = a.cand_start, ce = a.cand_end, nc = std::max(0, ce - cs);
  const float* q = P(a.q);
  std::vector<std::vector<double>> raw(H, std::vector<double>(nc, 0.0));
  std::vector<double> logit;
  for (int h = 0; h < H; ++h) {
    const int set = h / per_set;
    const float* K = static_cast<const float*>(host_ptr(a.k[set]));
    const int len = a.kv_len[set];
    for (int i = a.row0; i < a.n_q; ++i) {
      const float* qr = q + (size_t(i) * H + h) * hd;
      const int visible = a.visible ? a.visible[size_t(i - a.row0) * sets + set] : len - a.n_q + i + 1;
      if (visible <= 0) continue;
      logit.assign(visible, 0.0);
      double mx = -INFINITY;
      for (int j = 0; j < visible; ++j) {
        const float* kr = K + size_t(j) * hd;
        double dot = 0;
        for (int e = 0; e < hd; ++e) dot += double(qr[e]) * kr[e];
        logit[j] = dot * a.scale;
        mx = std::max(mx, logit[j]);
      }
      double tot = 0;
      for (int j = 0; j < visible; ++j) tot += (logit[j] = std::exp(logit[j] - mx));
      for (int j = cs; j < std::min(ce, visible); ++j) {
        double p = logit[j] / tot;
        if (a.div != 1.0) p /= a.div;
        raw[h][j - cs] += p;
      }
    }
  }
  std::vector<std::vector<double>> comb;
  if (a.combine == HeadCombine::None) {
    comb = std::move(raw);
  } else {
    const int G = a.n_groups, group = H / G;
    const bool mx = a.combine == HeadCombine::GroupMax;
    comb.assign(G, std::vector<double>(nc, mx ? -INFINITY : 0.0));
    for (int g = 0; g < G; ++g)
      for (int j = 0; j < nc; ++j) {
        double acc = mx ? -INFINITY : 0.0;
        for (int h = g * group; h < (g + 1) * group; ++h) acc = mx ? std::max(acc, raw[h][j]) : acc + raw[h][j];
        comb[g][j] = a.combine == HeadCombine::GroupMean ? acc / group : acc;
      }
  }
  double* out = P<double>(a.out);
  const int half = a.pool_kernel / 2;
  for (size_t g = 0; g < comb.size(); ++g) {
    double* o = out + g * size_t(nc);
    const std::vector<double>& r = comb[g];
    if (a.pool_kernel <= 1) {
      std::copy(r.begin(), r.end(), o);
      continue;
    }
    for (int i = 0; i < nc; ++i) {
      double acc = a.max_pool ? -INFINITY : 0.0;
      for (int j = std::max(0, i - half); j < std::min(nc, i + half + 1); ++j) acc = a.max_pool ? std::max(acc, r[j]) : acc + r[j];
      o[i] = a.max_pool ? acc : acc / a.pool_kernel;
    }
  }
}

void topk(const double* scores, int rows, int n, const int* k, int32_t* out) {
  std::vector<int32_t> idx(n);
  for (int r = 0; r < rows; ++r) {
    const double* v = scores + size_t(r) * n;
    std::iota(idx.begin(), idx.end(), 0);
    const int count = std::max(0, std::min(k[r], n));
    std::partial_sort(idx.begin(), idx.begin() + count, idx.end(),
                      [&](int32_t a, int32_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
    std::sort(idx.begin(), idx.begin() + count);
    std::copy(idx.begin(), idx.begin() + count, out + size_t(r) * n);
  }
}

namespace {
bool in_region(CalibRegion region, int p, int n, int S, int R, bool strict) {
  switch (region) {
    case CalibRegion::Sink: return p < S;
    case CalibRegion::Recent: return strict ? p > n - R : p >= n - R;
    case CalibRegion::Middle: return strict ? (p > S && p < n - R) : (p >= S && p < n - R);
    case CalibRegion::All: return true;
  }
  return false;
}
}  // namespace

void calib_outliers(const CalibArgs& a) {
  const double* score = P<double>(a.score);
  int32_t* evict_out = P<int32_t>(a.evict);
  int32_t* count_out = P<int32_t>(a.count);
  const int L = a.L, n = a.span_end - a.span_start;
  std::vector<std::vector<int32_t>> evict(a.rows);
  size_t most = 0;
  for (int d = 0; d < a.rows; ++d) {
    const double* s = score + size_t(d) * L;
    for (int j = a.span_start; j < a.span_end; ++j)
      if (s[j] > a.threshold && in_region(a.region, j - a.span_start, n, a.sink, a.recent, a.strict)) evict[d].push_back(j);
    most = std::max(most, evict[d].size());
  }
  if (a.equalise) {
    // Heads stay rectangular: pad with each head's lowest-scored other keys of the span.
    for (int d = 0; d < a.rows; ++d) {
      if (evict[d].size() == most) continue;
      const double* s = score + size_t(d) * L;
      std::vector<char> taken(L, 0);
      for (int j : evict[d]) taken[j] = 1;
      std::vector<int32_t> pool;
      for (int j = a.span_start; j < a.span_end; ++j)
        if (!taken[j]) pool.push_back(j);
      std::stable_sort(pool.begin(), pool.end(), [&](int32_t x, int32_t y) { return s[x] < s[y]; });
      evict[d].insert(evict[d].end(), pool.begin(), pool.begin() + (most - evict[d].size()));
      std::sort(evict[d].begin(), evict[d].end());
    }
  }
  for (int d = 0; d < a.rows; ++d) {
    std::copy(evict[d].begin(), evict[d].end(), evict_out + size_t(d) * L);
    count_out[d] = int32_t(evict[d].size());
  }
}

}  // namespace pcomp::cpu
