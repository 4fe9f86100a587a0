// Stage 6, the global stage: the kept chunks' caches become one sequence, in the order given
// (document order unless chunkEvict.keepOrder is off). Each chunk loses its question tokens and,
// after the first, its BOS (or, as the reference code, its first remaining entry); chunk sequences
// are freed as soon as they are copied in. The question is then re-encoded at positions after the
// longest kept chunk, with the attn-calib stage (if any) in its layers, and decoding follows.
#include <limits>
#include <algorithm>
#include <cmath>

#include "run.h"

namespace pcomp {

namespace {
struct GlobalCache {
  int seq = -1, question_start = 0;
  OriginSets origins;
};

GlobalCache build_global(RunContext& ctx, std::vector<ChunkRun>& runs, const std::vector<int>& kept) {
  const PolicyConfig& cfg = ctx.cfg;
  const int layers = ctx.model.cfg.n_layers, sets = ctx.sets();
  GlobalCache g;
  g.origins.assign(size_t(layers) * sets, {});
  std::vector<int32_t> keep;
  size_t longest = 0;
  std::vector<size_t> total(size_t(layers) * sets, 0);
  for (size_t o = 0; o < kept.size(); ++o) {
    ChunkRun& run = runs[kept[o]];
    for (int l = 0; l < layers; ++l)
      for (int s = 0; s < sets; ++s) {
        const KVHead& h = ctx.cache.head(run.seq, l, s);
        keep.clear();
        for (int i = 0; i < h.len; ++i) {
          const int src = h.src[i];
          if (cfg.global_drop_chunk_question && src >= run.context_len) continue;
          if (o > 0 && cfg.global_bos == "keep-first" && run.starts_with_bos && src == 0) continue;
          keep.push_back(i);
        }
        if (o > 0 && cfg.global_bos == "drop-index0" && !keep.empty()) keep.erase(keep.begin());
        auto& org = g.origins[size_t(l) * sets + s];
        for (int32_t i : keep) org.push_back({run.chunk, h.src[i]});
        ctx.cache.gather(run.seq, l, s, keep.data(), int(keep.size()));
        total[size_t(l) * sets + s] += keep.size();
      }
  }
  for (size_t t : total) longest = std::max(longest, t);
  g.seq = ctx.cache.new_seq(int(longest));
  for (int c : kept) {
    ctx.cache.extend(g.seq, runs[c].seq);
    ctx.cache.free_seq(runs[c].seq);
    runs[c].alive = false;
  }
  int start = 0;
  if (cfg.global_question_start == "longest-all") {
    for (const auto& r : runs) start = std::max(start, r.context_len);
  } else {
    for (int c : kept) start = std::max(start, runs[c].context_len);
  }
  g.question_start = start;
  return g;
}
}  // namespace

bool visible_by_position(const Origin& o, int first_index, int row) { return o.chunk != -1 || o.index <= first_index + row; }

void CalibHook::before_attention(int layer, int item, View q, int n_q, KVCache& cache, int seq) {
  (void)item;
  const int sets = ctx.sets();
  for (int s = 0; s < sets; ++s) {
    auto& org = origins[size_t(layer) * sets + s];
    for (int i = 0; i < n_q; ++i) org.push_back({-1, first_index + i});
  }
  auto record = [&] {
    trace_attention_layer(ctx, layer, q, n_q, cache, seq, &origins,
                          [&](int row, int s) { return calib_visible(*this, layer, s, row, n_q, cache.length(seq, layer, s)); });
  };
  if (trace && ctx.cfg.trace_after == "kv") record();
  if (ctx.plan.calib && run_rules) {
    // Several rules on one layer apply in list order, each on the cache the previous one left.
    for (const CalibRule& rule : ctx.cfg.calib_rules)
      if (layer + 1 >= rule.from && layer + 1 <= rule.to) ctx.plan.calib->calibrate(*this, rule, layer, q, n_q, cache, seq);
  }
  if (trace && ctx.cfg.trace_after == "calib") record();
}

int calib_visible(const CalibHook& hook, int layer, int set, int row, int n_q, int len) {
  if (!hook.custom_mask) return len - n_q + row + 1;  // the backend's rule: all but the step's later rows
  if (hook.ctx.cfg.calib_reencode_mask != "by-position") return std::max(0, len - n_q + row + 1);
  const auto& org = hook.origins[size_t(layer) * hook.ctx.sets() + set];
  int n = 0;
  while (n < int(org.size()) && visible_by_position(org[n], hook.first_index, row)) ++n;
  return n;
}

// After the step's own keys were evicted, the backend's rule (row i sees all but the step's last
// n_q - 1 - i entries) no longer says which keys a row may see. by-position: every earlier key and
// the step's keys up to i; bottom-right (FlashAttention on the shortened cache, the reference code):
// the first len - n_q + i + 1 entries, none at all for the first rows when more were evicted.
bool CalibHook::attention(int layer, int item, const AttentionArgs& a, KVCache& cache, int seq) {
  (void)item;
  (void)cache;
  (void)seq;
  if (!custom_mask) return false;
  // Either way a row sees a prefix of each set (context entries come first, then the step's in
  // order), so each row is its own item of one backend call, with its own prefix lengths; a row or
  // head that sees no key at all gets zeros (the backend's rule for an empty row, as FlashAttention).
  const bool by_position = ctx.cfg.calib_reencode_mask == "by-position";
  const AttentionItem& it = a.items[0];
  const int H = a.n_heads, hd = a.head_dim, sets = a.n_kv_heads;
  std::vector<int> lens(size_t(it.n_q) * sets);
  std::vector<AttentionItem> rows(it.n_q);
  for (int i = 0; i < it.n_q; ++i) {
    for (int s = 0; s < sets; ++s) {
      const auto& org = origins[size_t(layer) * sets + s];
      int n = 0;
      if (by_position) {
        while (n < int(org.size()) && visible_by_position(org[n], first_index, i)) ++n;
      } else {
        n = std::max(0, it.kv_len[s] - it.n_q + i + 1);
      }
      lens[size_t(i) * sets + s] = n;
    }
    AttentionItem& row = rows[i];
    row.n_q = 1;
    row.q = it.q.at(size_t(i) * H * hd);
    row.out = it.out.at(size_t(i) * H * hd);
    row.k = it.k;
    row.v = it.v;
    row.kv_len = &lens[size_t(i) * sets];
  }
  AttentionArgs batch = a;
  batch.items = rows.data();
  batch.n_items = it.n_q;
  ctx.be.attention(batch);
  return true;
}

void global_reencode(RunContext& ctx, std::vector<ChunkRun>& runs, const std::vector<int>& kept) {
  GlobalCache g = build_global(ctx, runs, kept);
  ctx.trace.global_cache = g.origins;
  ctx.trace.question_start = g.question_start;
  const pcomp_sample& smp = ctx.sample;
  const int nq = smp.question_len;
  CalibHook hook(ctx, g.origins);
  hook.run_rules = ctx.cfg.calib_stage == "reencode";
  if (ctx.cfg.trace_attention) {
    // The layout: the sample's chunks end to end (kept or not), then the question.
    std::vector<int> offsets;
    int off = 0;
    for (int c = 0; c < smp.n_chunks; ++c) { offsets.push_back(off); off += smp.chunk_lens[c]; }
    ctx.trace.attention.begin(ctx, offsets, off, off + nq);
    hook.trace = true;
  }
  std::vector<int32_t> pos(nq);
  for (int i = 0; i < nq; ++i) pos[i] = g.question_start + i;
  ctx.trace.question_positions = pos;
  SeqInput it;
  it.seq = g.seq;
  it.tokens = smp.question;
  it.positions = pos.data();
  it.n = nq;
  // The question's own tokens are scored while it is re-encoded (the paper's perplexity protocol):
  // token i+1 given the kept cache and question tokens 0..i. Token 0 has no prediction here.
  std::vector<int32_t> targets(nq, -1);
  std::vector<float> logprob(nq, 0.f);
  for (int i = 0; i + 1 < nq; ++i) targets[i] = smp.question[i + 1];
  it.targets = targets.data();
  it.target_logprob = logprob.data();
  std::vector<float> logits;
  ctx.run_forward({it}, LogitsMode::Last, &logits, &hook);
  ctx.trace.question_nll.assign(nq, std::numeric_limits<double>::quiet_NaN());
  for (int i = 0; i + 1 < nq; ++i) ctx.trace.question_nll[i + 1] = -double(logprob[i]);
  ctx.trace.final_cache = g.origins;
  eval_and_decode(ctx, g.seq, logits, g.question_start + nq);
}

}  // namespace pcomp
