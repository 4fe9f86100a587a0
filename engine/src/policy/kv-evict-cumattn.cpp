// Stage 4, parallel KV eviction by cumulative attention (SnapKV-style), per chunk; the selection
// itself is shared with the snapkv baseline (cache-snapkv) on a whole prompt.
// The score, pooling and top-k are backend ops (kv_score, topk): the last w query rows against the
// keys, never the full attention matrix; only the kept indices come back to the host.
#include <algorithm>
#include <cmath>

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

std::vector<std::vector<int32_t>> snapkv_select(const RunContext& ctx, int seq, int layer, View q, int n_q,
                                                const SnapKVParams& p) {
  const ModelConfig& c = ctx.model.cfg;
  const Backend& be = ctx.be;
  const int H = c.n_heads, KV = c.n_kv_heads, hd = c.head_dim, sets = ctx.sets();
  const int w = std::min(p.window, n_q);
  const int nc = std::max(0, p.cand_end - p.cand_start);
  if (p.per_query_head && !ctx.expanded()) throw EngineError("kvEvict.gqa=expanded-heads needs an expanded cache");
  // One selection per query head (the reference code after repeat_kv), or per KV head with the
  // group's query heads summed (GQA-native); pooled, then the top `capacity` per row.
  const int rows = p.per_query_head ? H : KV;
  std::vector<Buffer*> kb(sets);
  std::vector<int> lens(sets);
  for (int s = 0; s < sets; ++s) {
    kb[s] = ctx.cache.head(seq, layer, s).k;
    lens[s] = ctx.cache.length(seq, layer, s);
  }
  DeviceArray score, kept;
  score.grow(be, std::max<size_t>(1, size_t(rows) * nc) * sizeof(double));
  kept.grow(be, std::max<size_t>(1, size_t(rows) * nc) * sizeof(int32_t));
  KvScoreArgs a;
  a.q = q;
  a.n_q = n_q;
  a.row0 = n_q - w;
  a.n_heads = H;
  a.n_sets = sets;
  a.head_dim = hd;
  a.k = kb.data();
  a.kv_len = lens.data();
  a.cand_start = p.cand_start;
  a.cand_end = p.cand_start + nc;
  a.scale = 1.0 / std::sqrt(double(hd));
  a.combine = p.per_query_head ? HeadCombine::None : HeadCombine::GroupSum;
  a.n_groups = rows;
  a.pool_kernel = p.kernel;
  a.max_pool = find_pooling(p.pooling) == pool_max;
  a.out = score.view();
  std::vector<std::vector<int32_t>> keep(rows);
  if (nc > 0) {
    be.kv_score(a);
    const std::vector<int> ks(rows, std::min(p.capacity, nc));
    be.topk(score.view(), rows, nc, ks.data(), kept.view());
    // The kept indices cross to the host: the cache's bookkeeping (and the trace) lives there.
    std::vector<int32_t> host(size_t(rows) * nc);
    be.download(host.data(), kept.get(), 0, host.size() * sizeof(int32_t));
    for (int r = 0; r < rows; ++r) {
      keep[r].assign(host.begin() + size_t(r) * nc, host.begin() + size_t(r) * nc + ks[r]);
      for (auto& j : keep[r]) j += p.cand_start;
    }
  }
  std::vector<std::vector<int32_t>> out(sets);
  for (int s = 0; s < sets; ++s) out[s] = p.per_query_head ? keep[s] : keep[ctx.kv_head_of(s)];
  return out;
}

// Inside chunk `run`'s forward at `layer`: candidates are the context keys (BOS excluded when kept
// outside the capacity, or as the code does on later chunks); the chunk keeps [BOS?] ‖ the selected
// context ‖ every question entry. Applied after the forward (chunk-prefill.cpp).
void kv_evict_cumattn(RunContext& ctx, ChunkRun& run, int layer, View q, int n_q, int seq, int min_chunk) {
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
