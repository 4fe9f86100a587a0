// Stage 5, attention calibration by attention bias: while the question is re-encoded, at a layer a
// rule covers, the last `queryRows` question rows' softmax attention over the layer's cache is
// averaged; keys of the rule's region whose score exceeds lambda are evicted per head (equalised so
// every head evicts as many), before the layer's attention runs. Evictions are permanent: decoding
// sees them too. The scores and the outliers are backend ops (kv_score, calib_outliers); only the
// evicted indices come back to the host.
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

void attn_calib_bias(CalibHook& hook, const CalibRule& rule, int layer, View q, int n_q, KVCache& cache, int seq) {
  RunContext& ctx = hook.ctx;
  const Backend& be = ctx.be;
  const PolicyConfig& cfg = ctx.cfg;
  const ModelConfig& mc = ctx.model.cfg;
  const int H = mc.n_heads, KV = mc.n_kv_heads, hd = mc.head_dim, sets = ctx.sets();
  const bool per_query_head = cfg.calib_gqa == "expanded-heads";
  if (per_query_head && !ctx.expanded()) throw EngineError("calib.gqa=expanded-heads needs an expanded cache");
  const int L = cache.length(seq, layer, 0);
  for (int s = 1; s < sets; ++s)
    if (cache.length(seq, layer, s) != L) throw EngineError("calibration: cache heads differ in length at layer " + std::to_string(layer));
  const int rows = cfg.calib_query_rows == 0 ? n_q : std::min(cfg.calib_query_rows, n_q);
  // score[d][j]: mean over the scoring rows of the row's softmax over the keys it may see (a prefix
  // of each set: the context entries, then the step's own up to the row), combined over the group.
  std::vector<Buffer*> kb(sets);
  std::vector<int> lens(sets), visible(size_t(rows) * sets);
  for (int s = 0; s < sets; ++s) {
    kb[s] = cache.head(seq, layer, s).k;
    lens[s] = L;
    const auto& org = hook.origins[size_t(layer) * sets + s];
    for (int r = 0; r < rows; ++r) {
      const int i = n_q - rows + r;
      int n = 0;
      while (n < L && visible_by_position(org[n], hook.first_index, i)) ++n;
      visible[size_t(r) * sets + s] = n;
    }
  }
  const int n_rows = per_query_head ? H : KV;
  DeviceArray score, evict, count;
  score.grow(be, size_t(n_rows) * std::max(L, 1) * sizeof(double));
  evict.grow(be, size_t(n_rows) * std::max(L, 1) * sizeof(int32_t));
  count.grow(be, size_t(n_rows) * sizeof(int32_t));
  KvScoreArgs a;
  a.q = q;
  a.n_q = n_q;
  a.row0 = n_q - rows;
  a.n_heads = H;
  a.n_sets = sets;
  a.head_dim = hd;
  a.k = kb.data();
  a.kv_len = lens.data();
  a.visible = visible.data();
  a.cand_start = 0;
  a.cand_end = L;
  a.scale = 1.0 / std::sqrt(double(hd));
  a.div = rows;
  a.combine = per_query_head ? HeadCombine::None : cfg.calib_gqa == "group-max" ? HeadCombine::GroupMax : HeadCombine::GroupMean;
  a.n_groups = n_rows;
  a.out = score.view();
  be.kv_score(a);

  int span_start = 0, span_end = cfg.calib_region_over == "context" ? L - n_q : L;
  if (hook.context_limit >= 0) {  // in-chunk (prefill_1): the chunk's context entries
    span_start = hook.span_start;
    span_end = 0;
    for (const Origin& o : hook.origins[size_t(layer) * sets]) span_end += o.index < hook.context_limit;
  }
  const RegionTest in_region = find_region(rule.region);  // names the rule's region when it is unknown
  CalibArgs c;
  c.score = score.view();
  c.rows = n_rows;
  c.L = L;
  c.span_start = span_start;
  c.span_end = span_end;
  c.region = in_region == region_sink ? CalibRegion::Sink : in_region == region_recent ? CalibRegion::Recent
             : in_region == region_middle ? CalibRegion::Middle : CalibRegion::All;
  c.threshold = cfg.calib_threshold;
  c.sink = cfg.calib_sink;
  c.recent = cfg.calib_recent;
  c.strict = cfg.calib_strict_edges;
  c.equalise = cfg.calib_equalise;
  c.evict = evict.view();
  c.count = count.view();
  be.calib_outliers(c);
  // The evicted indices cross to the host, where the cache's bookkeeping and the origins live.
  std::vector<int32_t> ev_h(size_t(n_rows) * L), cnt(n_rows);
  be.download(cnt.data(), count.get(), 0, cnt.size() * sizeof(int32_t));
  be.download(ev_h.data(), evict.get(), 0, ev_h.size() * sizeof(int32_t));
  for (int s = 0; s < sets; ++s) {
    const int d = per_query_head ? s : ctx.kv_head_of(s);
    if (cnt[d] == 0) continue;
    std::vector<char> drop(L, 0);
    for (int e = 0; e < cnt[d]; ++e) drop[ev_h[size_t(d) * L + e]] = 1;
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
