// The attention trace of `pcomp attn` (docs/attention.md): at every layer of the pass that finally
// encodes the prompt's end (the whole prompt's prefill for the unchunked policies, the question's
// re-encoding after chunk and KV eviction for the chunked ones), the last `trace.window` query rows'
// softmax attention over the layer's cache, per query head, averaged over the rows, folded into
//   - `trace.bins` position bins over the prompt's layout (the sample's chunks end to end, then the
//     question), by each cache entry's origin, so evicted stretches show as empty bins;
//   - three regions over the cache in cache order: sink = the first trace.sinkSize entries, recent =
//     the last trace.recentSize (of the rest), middle = the rest;
//   - the same three regions within each chunk's entries (and the question's), in cache order.
// The per-key masses are a backend op (kv_score, the one the stages score with: never the n x n
// matrix) and the folds another (fold_bins); only [heads, bins] crosses to the host.
#include <algorithm>
#include <cmath>

#include "../json_write.h"
#include "run.h"

namespace pcomp {

void AttnTrace::begin(const RunContext& ctx, std::vector<int> offsets, int question_offset, int n_positions) {
  on = true;
  chunk_offsets = std::move(offsets);
  question_off = question_offset;
  positions = std::max(1, n_positions);
  layers.assign(ctx.model.cfg.n_layers, {});
}

void trace_attention_layer(RunContext& ctx, int layer, View q, int n_q, KVCache& cache, int seq,
                           const OriginSets* origins, const std::function<int(int, int)>& visible) {
  AttnTrace& tr = ctx.trace.attention;
  if (!tr.on) return;
  const Backend& be = ctx.be;
  const PolicyConfig& cfg = ctx.cfg;
  const ModelConfig& mc = ctx.model.cfg;
  const int H = mc.n_heads, hd = mc.head_dim, sets = ctx.sets();
  const int rows = std::min(cfg.trace_window, n_q), row0 = n_q - rows;
  AttnTraceLayer& out = tr.layers[layer];
  out.rows = rows;
  out.lens.assign(sets, 0);
  int L = 0;
  std::vector<Buffer*> kb(sets);
  for (int s = 0; s < sets; ++s) {
    kb[s] = cache.head(seq, layer, s).k;
    out.lens[s] = cache.length(seq, layer, s);
    L = std::max(L, out.lens[s]);
  }
  std::vector<int> vis(size_t(rows) * sets);
  for (int r = 0; r < rows; ++r)
    for (int s = 0; s < sets; ++s) vis[size_t(r) * sets + s] = std::min(out.lens[s], visible(row0 + r, s));

  // Per set: each entry's origin, its position bin, its region and its (group, region).
  std::vector<int32_t> pos_bin(size_t(sets) * std::max(L, 1), -1), region(pos_bin.size(), -1), group(pos_bin.size(), -1);
  out.groups.clear();
  auto origin_of = [&](int s, int j) -> Origin {
    if (origins) return (*origins)[size_t(layer) * sets + s][j];
    return {0, cache.head(seq, layer, s).src[j]};
  };
  auto position_of = [&](const Origin& o) {
    long p;
    if (!origins) p = o.index;  // a whole-prompt sequence: sources are prompt indices
    else if (o.chunk < 0) p = long(tr.question_off) + o.index;
    else if (o.chunk < int(tr.chunk_offsets.size())) {
      const int len = ctx.sample.chunk_lens && o.chunk < ctx.sample.n_chunks ? ctx.sample.chunk_lens[o.chunk] : 0;
      p = long(tr.chunk_offsets[o.chunk]) + (len > 0 ? std::min(o.index, len - 1) : o.index);
    } else p = o.index;
    return std::clamp<long>(p, 0, tr.positions - 1);
  };
  const int S = cfg.trace_sink, R = cfg.trace_recent;
  auto region_at = [&](int p, int n) { return p < S ? 0 : p >= n - R ? 2 : 1; };
  for (int s = 0; s < sets; ++s) {
    const int n = out.lens[s];
    // Group runs in cache order (the global cache is the kept chunks one after the other, then the
    // question); a group's index is its chunk's place in the first set's order.
    int j = 0;
    while (j < n) {
      const Origin o = origin_of(s, j);
      int e = j;
      while (e < n && origin_of(s, e).chunk == o.chunk) ++e;
      auto it = std::find(out.groups.begin(), out.groups.end(), o.chunk);
      int g = int(it - out.groups.begin());
      if (it == out.groups.end()) out.groups.push_back(o.chunk);
      for (int k = j; k < e; ++k) group[size_t(s) * L + k] = 3 * g + region_at(k - j, e - j);
      j = e;
    }
    for (int k = 0; k < n; ++k) {
      const long p = position_of(origin_of(s, k));
      pos_bin[size_t(s) * L + k] = int32_t(std::min<long>(cfg.trace_bins - 1, p * cfg.trace_bins / tr.positions));
      region[size_t(s) * L + k] = region_at(k, n);
    }
  }
  const int G = int(out.groups.size());

  DeviceArray score, bins, res;
  score.grow(be, std::max<size_t>(1, size_t(H) * L) * sizeof(double));
  bins.grow(be, std::max<size_t>(1, pos_bin.size()) * sizeof(int32_t));
  res.grow(be, size_t(H) * std::max(cfg.trace_bins, 3 * std::max(G, 1)) * sizeof(double));
  KvScoreArgs a;
  a.q = q;
  a.n_q = n_q;
  a.row0 = row0;
  a.n_heads = H;
  a.n_sets = sets;
  a.head_dim = hd;
  a.k = kb.data();
  a.kv_len = out.lens.data();
  a.visible = vis.data();
  a.cand_start = 0;
  a.cand_end = L;
  a.scale = 1.0 / std::sqrt(double(hd));
  a.div = rows;
  a.combine = HeadCombine::None;
  a.n_groups = H;
  a.out = score.view();
  if (L > 0) be.kv_score(a);
  std::vector<int> row_set(H);
  for (int h = 0; h < H; ++h) row_set[h] = ctx.set_of(h);
  auto fold = [&](const std::vector<int32_t>& map, int n_bins, std::vector<double>& dst) {
    dst.assign(size_t(H) * n_bins, 0.0);
    if (L == 0 || n_bins == 0) return;
    be.upload(bins.get(), 0, map.data(), map.size() * sizeof(int32_t));
    FoldBinsArgs f;
    f.score = score.view();
    f.rows = H;
    f.L = L;
    f.row_set = row_set.data();
    f.len = out.lens.data();
    f.bin = bins.view();
    f.n_sets = sets;
    f.n_bins = n_bins;
    f.out = res.view();
    be.fold_bins(f);
    be.download(dst.data(), res.get(), 0, dst.size() * sizeof(double));
  };
  fold(pos_bin, cfg.trace_bins, out.bins);
  fold(region, 3, out.regions);
  fold(group, 3 * G, out.group_regions);
}

void AttnTrace::to_json(std::ostringstream& o, const PolicyConfig& cfg) const {
  o << "{\"window\":" << cfg.trace_window << ",\"bins\":" << cfg.trace_bins << ",\"after\":\"" << cfg.trace_after
    << "\",\"sinkSize\":" << cfg.trace_sink << ",\"recentSize\":" << cfg.trace_recent << ",\"positions\":" << positions
    << ",\"chunkOffsets\":";
  json_ints(o, chunk_offsets);
  o << ",\"questionOffset\":" << question_off << ",\"layers\":[";
  for (size_t l = 0; l < layers.size(); ++l) {
    const AttnTraceLayer& t = layers[l];
    const size_t H = t.rows > 0 && !t.regions.empty() ? t.regions.size() / 3 : 0;
    auto rows_of = [&](const std::vector<double>& v, size_t w) {
      o << '[';
      for (size_t h = 0; h < H; ++h) {
        o << (h ? "," : "") << '[';
        for (size_t i = 0; i < w; ++i) { o << (i ? "," : ""); json_num(o, v[h * w + i]); }
        o << ']';
      }
      o << ']';
    };
    o << (l ? "," : "") << "{\"rows\":" << t.rows << ",\"cacheLengths\":";
    json_ints(o, t.lens);
    o << ",\"groups\":";
    json_ints(o, t.groups);
    o << ",\"bins\":";
    rows_of(t.bins, H ? t.bins.size() / H : 0);
    o << ",\"regions\":";
    rows_of(t.regions, 3);
    o << ",\"groupRegions\":";
    rows_of(t.group_regions, H ? t.group_regions.size() / H : 0);
    o << '}';
  }
  o << "]}";
}

}  // namespace pcomp
