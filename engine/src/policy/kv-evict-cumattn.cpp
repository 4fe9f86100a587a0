// Stage 4, parallel KV eviction by cumulative attention (SnapKV-style), per chunk; the selection
// itself is shared with the snapkv baseline (cache-snapkv) on a whole prompt.
// Only the last w query rows are scored against the keys, one row at a time: the full attention
// matrix is never materialised (w x L doubles at most, per head).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "../error.h"
#include "registry.h"
#include "run.h"

namespace pcomp {

std::vector<double> pool_max(const std::vector<double>& raw, int kernel) {
  const int n = int(raw.size()), half = kernel / 2;
  std::vector<double> out(n);
  for (int i = 0; i < n; ++i) {
    double m = -INFINITY;  // torch max_pool1d pads with -inf: positions outside the range never win
    for (int j = std::max(0, i - half); j < std::min(n, i + half + 1); ++j) m = std::max(m, raw[j]);
    out[i] = m;
  }
  return out;
}

std::vector<double> pool_avg(const std::vector<double>& raw, int kernel) {
  const int n = int(raw.size()), half = kernel / 2;
  std::vector<double> out(n);
  for (int i = 0; i < n; ++i) {
    double s = 0;  // torch avg_pool1d counts the zero padding: divide by the kernel, not the window
    for (int j = std::max(0, i - half); j < std::min(n, i + half + 1); ++j) s += raw[j];
    out[i] = s / kernel;
  }
  return out;
}

namespace {
// Indices of the `count` largest values, ties to the lower index, ascending.
std::vector<int32_t> top_indices(const std::vector<double>& v, int count) {
  std::vector<int32_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  count = std::max(0, std::min(count, int(v.size())));
  std::partial_sort(idx.begin(), idx.begin() + count, idx.end(),
                    [&](int32_t a, int32_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
  idx.resize(count);
  std::sort(idx.begin(), idx.end());
  return idx;
}
}  // namespace

std::vector<std::vector<int32_t>> snapkv_select(const RunContext& ctx, int seq, int layer, const float* q, int n_q,
                                                const SnapKVParams& p) {
  const ModelConfig& c = ctx.model.cfg;
  const int H = c.n_heads, KV = c.n_kv_heads, hd = c.head_dim, group = H / KV;
  const int w = std::min(p.window, n_q);
  const int cs = p.cand_start, ce = p.cand_end, nc = std::max(0, ce - cs);
  if (p.per_query_head && !ctx.expanded()) throw EngineError("kvEvict.gqa=expanded-heads needs an expanded cache");
  const double scale = 1.0 / std::sqrt(double(hd));
  std::vector<std::vector<double>> raw(H, std::vector<double>(nc, 0.0));
  std::vector<double> logit;
  for (int h = 0; h < H; ++h) {
    const KVHead& kh = const_cast<KVCache&>(ctx.cache).head(seq, layer, ctx.set_of(h));
    for (int r = 0; r < w; ++r) {
      const int i = n_q - w + r;
      const float* qr = q + (size_t(i) * H + h) * hd;
      const int visible = kh.len - n_q + i + 1;  // causal: the row sees keys up to itself
      logit.assign(visible, 0.0);
      double mx = -INFINITY;
      for (int j = 0; j < visible; ++j) {
        const float* kr = &kh.k[size_t(j) * hd];
        double dot = 0;
        for (int e = 0; e < hd; ++e) dot += double(qr[e]) * kr[e];
        logit[j] = dot * scale;
        mx = std::max(mx, logit[j]);
      }
      double tot = 0;
      for (int j = 0; j < visible; ++j) tot += (logit[j] = std::exp(logit[j] - mx));
      for (int j = cs; j < std::min(ce, visible); ++j) raw[h][j - cs] += logit[j] / tot;
    }
  }
  // One selection per query head (the reference code after repeat_kv), or per KV head with the
  // group's query heads summed (GQA-native).
  std::vector<std::vector<double>> per_set;
  if (p.per_query_head) {
    per_set = raw;
  } else {
    per_set.assign(KV, std::vector<double>(nc, 0.0));
    for (int h = 0; h < H; ++h)
      for (int j = 0; j < nc; ++j) per_set[h / group][j] += raw[h][j];
  }
  const Pooling pool = find_pooling(p.pooling);
  std::vector<std::vector<int32_t>> keep(per_set.size());
  for (size_t s = 0; s < per_set.size(); ++s) {
    keep[s] = top_indices(pool(per_set[s], p.kernel), std::min(p.capacity, nc));
    for (auto& j : keep[s]) j += cs;
  }
  std::vector<std::vector<int32_t>> out(ctx.sets());
  for (int s = 0; s < ctx.sets(); ++s) out[s] = p.per_query_head ? keep[s] : keep[ctx.kv_head_of(s)];
  return out;
}

// Inside chunk `run`'s forward at `layer`: candidates are the context keys (BOS excluded when kept
// outside the capacity, or as the code does on later chunks); the chunk keeps [BOS?] ‖ the selected
// context ‖ every question entry. Applied after the forward (chunk-prefill.cpp).
void kv_evict_cumattn(RunContext& ctx, ChunkRun& run, int layer, const float* q, int n_q, int seq, int min_chunk) {
  const PolicyConfig& cfg = ctx.cfg;
  const bool reference = cfg.kv_bos == "reference";
  const int start = reference ? (run.chunk == 0 ? 0 : 1) : (run.starts_with_bos ? 1 : 0);
  int capacity = cfg.kv_capacity > 0 ? cfg.kv_capacity : ctx.model.cfg.max_pos / 2;
  capacity = std::min(capacity, run.context_len - start);
  if (cfg.kv_capacity_rule == "sample-min") capacity = std::min(capacity, min_chunk);
  SnapKVParams p;
  p.window = cfg.kv_window;
  p.kernel = cfg.kv_kernel;
  p.pooling = cfg.kv_pooling;
  p.per_query_head = cfg.kv_gqa == "expanded-heads";
  p.cand_start = start;
  p.cand_end = run.context_len;
  p.capacity = std::max(0, capacity);
  auto sel = snapkv_select(ctx, seq, layer, q, n_q, p);
  const int L = ctx.cache.length(seq, layer, 0);
  for (int s = 0; s < ctx.sets(); ++s) {
    std::vector<int32_t>& keep = run.kv_keep[size_t(layer) * ctx.sets() + s];
    keep.clear();
    if (!reference && run.starts_with_bos) keep.push_back(0);
    keep.insert(keep.end(), sel[s].begin(), sel[s].end());
    for (int j = run.context_len; j < L; ++j) keep.push_back(j);  // the question stays
  }
}

}  // namespace pcomp
