// Stages 1-2: every chunk of a wave runs as one batched forward, each as its own sequence holding
// chunk ‖ question at positions 0..len-1. The forward yields the question tokens' NLL (stage 3's
// input) and, when KV eviction is on, each layer's SnapKV selection, computed inside the layer from
// the real queries before attention (stage 4); the selection is applied after the forward, so the
// chunk's own logits always see its whole cache.
#include <algorithm>
#include <memory>

#include "../error.h"
#include "run.h"

namespace pcomp {
namespace {

// The wave's hook: per chunk and layer, the kv-evict stage's selection and, with calib.stage=chunk
// (the code's prefill_1), the attn-calib stage inside the chunk's own prefill.
struct WaveHook : LayerHook {
  RunContext& ctx;
  std::vector<ChunkRun*> wave;
  std::vector<OriginSets> origins;               // per item, for in-chunk calibration
  std::vector<std::unique_ptr<CalibHook>> calib;  // per item, or empty
  int min_chunk = 0;
  explicit WaveHook(RunContext& c) : ctx(c) {}
  void before_attention(int layer, int item, View q, int n_q, KVCache& cache, int seq) override {
    if (!calib.empty()) calib[item]->before_attention(layer, item, q, n_q, cache, seq);
    if (ctx.plan.kv_evict) ctx.plan.kv_evict->select(ctx, *wave[item], layer, q, n_q, seq, min_chunk);
  }
  bool attention(int layer, int item, const AttentionArgs& a, KVCache& cache, int seq) override {
    return !calib.empty() && calib[item]->attention(layer, item, a, cache, seq);
  }
};

// Applies the kept sets chosen during the chunk's forward: the cache is compacted in place.
void apply_kv_eviction(RunContext& ctx, ChunkRun& run) {
  const int sets = ctx.sets();
  for (int l = 0; l < ctx.model.cfg.n_layers; ++l)
    for (int s = 0; s < sets; ++s) {
      const auto& keep = run.kv_keep[size_t(l) * sets + s];
      ctx.cache.gather(run.seq, l, s, keep.data(), int(keep.size()));
    }
  run.kv_keep.clear();
}

void prefill_chunk_wave(RunContext& ctx, const std::vector<int32_t>& question, std::vector<ChunkRun>& runs, int begin,
                        int end, int min_chunk) {
  const pcomp_sample& smp = ctx.sample;
  const int nq = int(question.size());
  std::vector<std::vector<int32_t>> inputs, targets;
  std::vector<std::vector<float>> logprob;
  int longest = 0;
  for (int c = begin; c < end; ++c) longest = std::max(longest, smp.chunk_lens[c] + nq);
  std::vector<int32_t> positions(longest);
  for (int i = 0; i < longest; ++i) positions[i] = i;

  std::vector<SeqInput> items;
  WaveHook hook(ctx);
  const bool calib_in_chunk = ctx.plan.calib && ctx.cfg.calib_stage == "chunk";
  hook.min_chunk = min_chunk;
  inputs.resize(end - begin);
  targets.resize(end - begin);
  logprob.resize(end - begin);
  for (int c = begin; c < end; ++c) {
    ChunkRun& run = runs[c];
    const int lenC = smp.chunk_lens[c];
    if (lenC < 1) throw EngineError("chunk " + std::to_string(c) + " is empty");
    run.chunk = c;
    run.context_len = lenC;
    run.input_len = lenC + nq;
    run.starts_with_bos = ctx.model.cfg.bos >= 0 && smp.chunks[c][0] == ctx.model.cfg.bos;
    run.seq = ctx.cache.new_seq(run.input_len);
    run.alive = true;
    auto& in = inputs[c - begin];
    in.assign(smp.chunks[c], smp.chunks[c] + lenC);
    in.insert(in.end(), question.begin(), question.end());
    auto& tg = targets[c - begin];
    tg.assign(run.input_len, -1);
    for (int t = 0; t < nq; ++t) tg[lenC - 1 + t] = question[t];
    logprob[c - begin].assign(run.input_len, 0.f);
    if (ctx.plan.kv_evict) run.kv_keep.assign(size_t(ctx.model.cfg.n_layers) * ctx.sets(), {});
    SeqInput it;
    it.seq = run.seq;
    it.tokens = in.data();
    it.positions = positions.data();
    it.n = run.input_len;
    it.targets = tg.data();
    it.target_logprob = logprob[c - begin].data();
    items.push_back(it);
    hook.wave.push_back(&run);
  }
  if (calib_in_chunk) {
    hook.origins.assign(end - begin, OriginSets(size_t(ctx.model.cfg.n_layers) * ctx.sets()));
    for (int c = begin; c < end; ++c) {
      // Entries are the step's own tokens (-1, input index); regions span the chunk's context, from
      // index 1 on later chunks when regions span the question too (the code skips their BOS).
      auto h = std::make_unique<CalibHook>(ctx, hook.origins[c - begin]);
      h->context_limit = runs[c].context_len;
      h->span_start = ctx.cfg.calib_region_over == "context-and-question" && c > 0 ? 1 : 0;
      hook.calib.push_back(std::move(h));
    }
  }
  ctx.run_forward(items, LogitsMode::None, nullptr, ctx.plan.kv_evict || calib_in_chunk ? &hook : nullptr);
  for (int c = begin; c < end; ++c) {
    ChunkRun& run = runs[c];
    run.question_nll.resize(nq);
    for (int t = 0; t < nq; ++t) run.question_nll[t] = -double(logprob[c - begin][run.context_len - 1 + t]);
    run.score = chunk_score(run.question_nll, ctx.cfg.chunk_evict_score, ctx.cfg.chunk_evict_score_tokens);
  }
}

}  // namespace

void chunk_prefill(RunContext& ctx) {
  const PolicyConfig& cfg = ctx.cfg;
  const pcomp_sample& smp = ctx.sample;
  const ModelConfig& mc = ctx.model.cfg;
  const int n = smp.n_chunks;
  if (n < 1) throw EngineError("sample: the chunked pipeline needs at least one chunk");
  if (smp.question_len < 1) throw EngineError("sample: the chunked pipeline needs a question (it scores chunks and is re-encoded)");
  // The question arrives as the TS prompt builder made it (BOS-prefixed under global.questionBos).
  const std::vector<int32_t> question(smp.question, smp.question + smp.question_len);
  const int nq = int(question.size());

  int longest = 0, shortest = INT32_MAX, start = 0;
  for (int c = 0; c < n; ++c) {
    longest = std::max(longest, smp.chunk_lens[c]);
    shortest = std::min(shortest, smp.chunk_lens[c]);
    ctx.trace.chunk_lengths.push_back(smp.chunk_lens[c]);
    ctx.trace.chunk_starts.push_back(start);
    start += smp.chunk_lens[c];
  }
  ctx.set_rope(longest + nq + smp.max_new_tokens);

  const int P = cfg.chunk_parallel > 0 ? cfg.chunk_parallel : n;
  const int k = cfg.retrieval ? cfg.chunk_evict_k_retrieval : cfg.chunk_evict_k;
  std::vector<ChunkRun> runs(n);
  std::vector<int> alive;  // surviving chunks (best first once a chunk-evict stage ranked them)
  ctx.report("prefill", 0, n);
  for (int begin = 0; begin < n; begin += P) {
    const int end = std::min(n, begin + P);
    prefill_chunk_wave(ctx, question, runs, begin, end, shortest);
    for (int c = begin; c < end; ++c) alive.push_back(c);
    // The online priority queue: whatever falls out of the top k is freed before the next wave.
    if (ctx.plan.chunk_evict) ctx.plan.chunk_evict->prune(ctx, runs, alive, k);
    for (int c : alive)
      if (!runs[c].kv_keep.empty()) apply_kv_eviction(ctx, runs[c]);
    ctx.report("prefill", end, n);
  }
  ctx.trace.bytes_after_prefill = ctx.cache.bytes();
  for (const auto& r : runs) ctx.trace.chunk_scores.push_back(r.score);

  std::vector<int> kept = alive;
  if (!ctx.plan.chunk_evict || cfg.chunk_evict_keep_order) std::sort(kept.begin(), kept.end());
  ctx.trace.kept_chunks = kept;
  for (int c : kept) {
    std::vector<std::vector<int32_t>> sets;
    for (int l = 0; l < mc.n_layers; ++l)
      for (int s = 0; s < ctx.sets(); ++s) sets.push_back(ctx.cache.head(runs[c].seq, l, s).src);
    ctx.trace.kv_kept.push_back(std::move(sets));
  }

  ctx.plan.global->global(ctx, runs, kept);
}

}  // namespace pcomp
