// Stage 5, attention calibration by attention bias: while the question is re-encoded, at a layer a
// rule covers, the last `queryRows` question rows' softmax attention over the layer's cache is
// averaged; keys of the rule's region whose score exceeds lambda are evicted per head (equalised so
// every head evicts as many), before the layer's attention runs. Evictions are permanent: decoding
// sees them too. Probabilities are computed a row at a time, never as a matrix.
#include <algorithm>
#include <cmath>

#include "../error.h"
#include "registry.h"
#include "run.h"

namespace pcomp {

// Regions over a span of n keys, p = offset in the span. Half-open edges (paper) or the code's
// strict ones, where positions S and n-R belong to no region.
bool region_sink(int p, int, int S, int, bool) { return p < S; }
bool region_recent(int p, int n, int, int R, bool strict) { return strict ? p > n - R : p >= n - R; }
bool region_middle(int p, int n, int S, int R, bool strict) { return strict ? (p > S && p < n - R) : (p >= S && p < n - R); }
bool region_all(int, int, int, int, bool) { return true; }

void attn_calib_bias(CalibHook& hook, const CalibRule& rule, int layer, const float* q, int n_q, KVCache& cache, int seq) {
  RunContext& ctx = hook.ctx;
  const PolicyConfig& cfg = ctx.cfg;
  const ModelConfig& mc = ctx.model.cfg;
  const int H = mc.n_heads, KV = mc.n_kv_heads, hd = mc.head_dim, group = H / KV, sets = ctx.sets();
  const bool per_query_head = cfg.calib_gqa == "expanded-heads";
  if (per_query_head && !ctx.expanded()) throw EngineError("calib.gqa=expanded-heads needs an expanded cache");
  const double scale = 1.0 / std::sqrt(double(hd));
  const int L = cache.length(seq, layer, 0);
  for (int s = 1; s < sets; ++s)
    if (cache.length(seq, layer, s) != L) throw EngineError("calibration: cache heads differ in length at layer " + std::to_string(layer));
  const int rows = cfg.calib_query_rows == 0 ? n_q : std::min(cfg.calib_query_rows, n_q);
  // a[h][j]: mean over the scoring rows of the row's softmax over the keys it may see.
  std::vector<std::vector<double>> a(H, std::vector<double>(L, 0.0));
  std::vector<double> logit(L);
  for (int h = 0; h < H; ++h) {
    const int set = ctx.set_of(h);
    const KVHead& kh = cache.head(seq, layer, set);
    const auto& org = hook.origins[size_t(layer) * sets + set];
    for (int r = 0; r < rows; ++r) {
      const int i = n_q - rows + r;
      const float* qr = q + (size_t(i) * H + h) * hd;
      double mx = -INFINITY;
      for (int j = 0; j < L; ++j) {
        if (!visible_by_position(org[j], hook.first_index, i)) continue;
        double dot = 0;
        for (int e = 0; e < hd; ++e) dot += double(qr[e]) * kh.k[size_t(j) * hd + e];
        logit[j] = dot * scale;
        mx = std::max(mx, logit[j]);
      }
      double tot = 0;
      for (int j = 0; j < L; ++j)
        if (visible_by_position(org[j], hook.first_index, i)) tot += std::exp(logit[j] - mx);
      for (int j = 0; j < L; ++j)
        if (visible_by_position(org[j], hook.first_index, i)) a[h][j] += std::exp(logit[j] - mx) / tot / rows;
    }
  }
  std::vector<std::vector<double>> score;
  if (per_query_head) {
    score = a;
  } else {
    score.assign(KV, std::vector<double>(L, 0.0));
    for (int g = 0; g < KV; ++g)
      for (int j = 0; j < L; ++j) {
        double acc = cfg.calib_gqa == "group-max" ? -INFINITY : 0.0;
        for (int h = g * group; h < (g + 1) * group; ++h)
          acc = cfg.calib_gqa == "group-max" ? std::max(acc, a[h][j]) : acc + a[h][j];
        score[g][j] = cfg.calib_gqa == "group-max" ? acc : acc / group;
      }
  }
  int span_start = 0, span_end = cfg.calib_region_over == "context" ? L - n_q : L;
  if (hook.context_limit >= 0) {  // in-chunk (prefill_1): the chunk's context entries
    span_start = hook.span_start;
    span_end = 0;
    for (const Origin& o : hook.origins[size_t(layer) * sets]) span_end += o.index < hook.context_limit;
  }
  const int n = span_end - span_start;
  const RegionTest in_region = find_region(rule.region);
  std::vector<std::vector<int32_t>> evict(score.size());
  size_t most = 0;
  for (size_t d = 0; d < score.size(); ++d) {
    for (int j = span_start; j < span_end; ++j)
      if (score[d][j] > cfg.calib_threshold && in_region(j - span_start, n, cfg.calib_sink, cfg.calib_recent, cfg.calib_strict_edges))
        evict[d].push_back(j);
    most = std::max(most, evict[d].size());
  }
  if (cfg.calib_equalise) {
    // Heads stay rectangular: pad with each head's lowest-scored other keys of the span.
    for (size_t d = 0; d < score.size(); ++d) {
      if (evict[d].size() == most) continue;
      std::vector<char> taken(L, 0);
      for (int j : evict[d]) taken[j] = 1;
      std::vector<int32_t> pool;
      for (int j = span_start; j < span_end; ++j)
        if (!taken[j]) pool.push_back(j);
      std::stable_sort(pool.begin(), pool.end(), [&](int32_t x, int32_t y) { return score[d][x] < score[d][y]; });
      evict[d].insert(evict[d].end(), pool.begin(), pool.begin() + (most - evict[d].size()));
      std::sort(evict[d].begin(), evict[d].end());
    }
  }
  for (int s = 0; s < sets; ++s) {
    const auto& ev = evict[per_query_head ? s : ctx.kv_head_of(s)];
    if (ev.empty()) continue;
    std::vector<char> drop(L, 0);
    for (int j : ev) drop[j] = 1;
    std::vector<int32_t> keep;
    auto& org = hook.origins[size_t(layer) * sets + s];
    std::vector<Origin> kept_org;
    for (int j = 0; j < L; ++j)
      if (!drop[j]) { keep.push_back(j); kept_org.push_back(org[j]); }
      else if (org[j].chunk == -1) hook.custom_mask = true;  // a key of the step itself went
    cache.gather(seq, layer, s, keep.data(), int(keep.size()));
    org = kept_org;
  }
}

}  // namespace pcomp
