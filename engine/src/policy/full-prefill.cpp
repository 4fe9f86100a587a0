// The unchunked policies: the whole prompt (context ‖ question) as one sequence.
//   full         middle truncation to full.maxTokens (head half + tail half, as LongBench)
//   rope-*       the same with a RoPE override (ntk, dynamic-ntk, linear = pi)
//   cache-snapkv     after the prefill, each KV head keeps its top-scored prefix tokens plus the window
//   attn-dca         ChunkLlama's dual chunk attention (positions remapped, attention replaced by its hook)
//   cache-streaming  the first `sink` and the last `window` prompt tokens, at positions 0..
#include <algorithm>

#include "../error.h"
#include "run.h"

namespace pcomp {
namespace {
struct SnapHook : LayerHook {
  RunContext& ctx;
  std::vector<std::vector<int32_t>> keep;  // [layer*sets+set]
  explicit SnapHook(RunContext& c) : ctx(c), keep(size_t(c.model.cfg.n_layers) * c.sets()) {}
  void before_attention(int layer, int, View q, int n_q, KVCache& cache, int seq) override {
    if (ctx.plan.snapkv) {
      auto sel = ctx.plan.snapkv->cache_select(ctx, layer, q, n_q, seq);
      for (int s = 0; s < ctx.sets(); ++s) keep[size_t(layer) * ctx.sets() + s] = std::move(sel[s]);
    }
    // The whole prompt's own attention (snapkv's selection applies after the prefill).
    trace_attention_layer(ctx, layer, q, n_q, cache, seq, nullptr,
                          [&](int row, int s) { return cache.length(seq, layer, s) - n_q + row + 1; });
  }
};
}  // namespace

void full_prefill(RunContext& ctx) {
  const PolicyConfig& cfg = ctx.cfg;
  const pcomp_sample& smp = ctx.sample;
  const ModelConfig& mc = ctx.model.cfg;
  std::vector<int32_t> prompt;
  for (int c = 0; c < smp.n_chunks; ++c) {
    ctx.trace.chunk_lengths.push_back(smp.chunk_lens[c]);
    ctx.trace.chunk_starts.push_back(int(prompt.size()));
    prompt.insert(prompt.end(), smp.chunks[c], smp.chunks[c] + smp.chunk_lens[c]);
  }
  prompt.insert(prompt.end(), smp.question, smp.question + smp.question_len);
  if (prompt.empty()) throw EngineError("sample: the prompt is empty");
  const int window = mc.max_pos, after = smp.max_new_tokens;  // eval tokens are scored, not budgeted (as the reference)
  const int original = int(prompt.size());
  if (ctx.plan.streaming) {
    prompt = ctx.plan.streaming->cache_prompt(ctx, prompt);
  } else {
    const int max_tokens = cfg.full_max_tokens > 0 ? cfg.full_max_tokens : std::max(2, window - after);
    if (original > max_tokens) {  // LongBench's middle truncation: head half + tail half
      const int half = max_tokens / 2;
      std::vector<int32_t> kept(prompt.begin(), prompt.begin() + half);
      kept.insert(kept.end(), prompt.end() - half, prompt.end());
      prompt = kept;
    }
  }
  const int L = int(prompt.size());
  ctx.trace.prompt_length = L;
  ctx.trace.truncated_from = original;
  ctx.trace.kept_chunks = {0};
  ctx.set_rope(L + after);

  const int seq = ctx.cache.new_seq(L);
  std::vector<int32_t> pos(L);
  for (int i = 0; i < L; ++i) pos[i] = ctx.position(i);
  std::unique_ptr<LayerHook> attn = ctx.plan.attn ? ctx.plan.attn->attn_hook(ctx) : nullptr;
  ctx.attn_hook = attn.get();
  SeqInput it;
  it.seq = seq;
  it.tokens = prompt.data();
  it.positions = pos.data();
  it.n = L;
  SnapHook snap(ctx);
  if (cfg.trace_attention) {
    // The layout is the prompt as encoded (after truncation or the streaming cut); chunk offsets
    // hold only when the prompt was not cut.
    std::vector<int> offsets;
    if (L == original) offsets = ctx.trace.chunk_starts;
    ctx.trace.attention.begin(ctx, offsets, std::max(0, L - smp.question_len), L);
  }
  std::vector<float> logits;
  ctx.report("prefill", 0, 1);
  // DCA replaces the prompt's attention through ctx.attn_hook; snapkv and the trace observe through
  // `snap` (knobs.json's rules refuse dca.enabled with snapkv.enabled or trace.attention).
  ctx.run_forward({it}, LogitsMode::Last, &logits, ctx.plan.snapkv || cfg.trace_attention ? &snap : ctx.attn_hook);
  ctx.report("prefill", 1, 1);
  ctx.trace.bytes_after_prefill = ctx.cache.bytes();
  const int sets = ctx.sets();
  OriginSets origins(size_t(mc.n_layers) * sets);
  for (int l = 0; l < mc.n_layers; ++l)
    for (int s = 0; s < sets; ++s) {
      if (ctx.plan.snapkv) {
        const auto& k = snap.keep[size_t(l) * sets + s];
        ctx.cache.gather(seq, l, s, k.data(), int(k.size()));
      }
      for (int32_t src : ctx.cache.head(seq, l, s).src) origins[size_t(l) * sets + s].push_back({0, src});
    }
  ctx.trace.global_cache = origins;
  ctx.trace.final_cache = origins;
  const int qs = std::max(0, L - smp.question_len);
  ctx.trace.question_start = qs;
  for (int i = qs; i < L; ++i) ctx.trace.question_positions.push_back(i);
  eval_and_decode(ctx, seq, logits, L);
  ctx.attn_hook = nullptr;
}

}  // namespace pcomp
