// The end of every policy: optional evaluation tokens scored after the prompt (their NLL is the
// perplexity input; they are dropped again afterwards), then greedy decoding from the prompt until a
// stop id or maxNew tokens.
#include <algorithm>
#include <cmath>

#include "../error.h"
#include "run.h"

namespace pcomp {
namespace {
double nll_of(const std::vector<float>& logits, int32_t target) {
  double mx = -INFINITY, tot = 0;
  for (float x : logits) mx = std::max(mx, double(x));
  for (float x : logits) tot += std::exp(double(x) - mx);
  return -(double(logits[target]) - mx - std::log(tot));
}
}  // namespace

void eval_and_decode(RunContext& ctx, int seq, std::vector<float> last_logits, int next_pos) {
  const pcomp_sample& smp = ctx.sample;
  const int V = ctx.model.cfg.vocab;
  {
    std::vector<int32_t> ids(V);
    for (int i = 0; i < V; ++i) ids[i] = i;
    const int top = std::min(32, V);
    std::partial_sort(ids.begin(), ids.begin() + top, ids.end(), [&](int32_t a, int32_t b) {
      return last_logits[a] > last_logits[b] || (last_logits[a] == last_logits[b] && a < b);
    });
    for (int i = 0; i < top; ++i) ctx.trace.final_top.push_back({ids[i], last_logits[ids[i]]});
  }
  if (smp.eval_len > 0) {
    const int n = smp.eval_len;
    for (int i = 0; i < n; ++i)
      if (smp.eval_tokens[i] < 0 || smp.eval_tokens[i] >= V)
        throw EngineError("eval token " + std::to_string(smp.eval_tokens[i]) + " is outside the vocabulary");
    ctx.nll.push_back(float(nll_of(last_logits, smp.eval_tokens[0])));
    std::vector<int32_t> pos(n), targets(n, -1);
    std::vector<float> lp(n, 0.f);
    for (int i = 0; i < n; ++i) pos[i] = ctx.position(next_pos + i);
    for (int i = 0; i + 1 < n; ++i) targets[i] = smp.eval_tokens[i + 1];
    SeqInput it;
    it.seq = seq;
    it.tokens = smp.eval_tokens;
    it.positions = pos.data();
    it.n = n;
    it.targets = targets.data();
    it.target_logprob = lp.data();
    ctx.run_forward({it}, LogitsMode::None, nullptr, ctx.attn_hook);
    for (int i = 0; i + 1 < n; ++i) ctx.nll.push_back(-lp[i]);
    ctx.trace.eval_positions = pos;
    // Scored, not kept: decoding continues from the prompt, as if the eval tokens had not been fed
    // (referencePipeline scores them on a copy of the cache). They are the last n entries of every set.
    for (int l = 0; l < ctx.model.cfg.n_layers; ++l)
      for (int s = 0; s < ctx.sets(); ++s) {
        std::vector<int32_t> keep(ctx.cache.length(seq, l, s) - n);
        for (size_t j = 0; j < keep.size(); ++j) keep[j] = int32_t(j);
        ctx.cache.gather(seq, l, s, keep.data(), int(keep.size()));
      }
  }
  ctx.trace.bytes_before_decode = ctx.cache.bytes();
  std::vector<SeqInput> step(1);  // reused: a decode step allocates nothing here
  ctx.tokens.reserve(ctx.tokens.size() + size_t(std::max(0, smp.max_new_tokens)));
  ctx.trace.generated_positions.reserve(size_t(std::max(0, smp.max_new_tokens)));
  for (int t = 0; t < smp.max_new_tokens; ++t) {
    int32_t best = 0;
    for (int i = 1; i < V; ++i)
      if (last_logits[i] > last_logits[best]) best = i;
    bool stop = false;
    for (int i = 0; i < smp.n_stop_ids; ++i) stop = stop || smp.stop_ids[i] == best;
    if (stop) break;
    ctx.tokens.push_back(best);
    // The position the token enters at (streaming: a cache slot, after the cache made room).
    int32_t pos = ctx.plan.streaming ? ctx.plan.streaming->cache_roll(ctx, seq) : ctx.position(next_pos + t);
    ctx.trace.generated_positions.push_back(pos);
    ctx.report("decode", t + 1, smp.max_new_tokens);
    if (t + 1 == smp.max_new_tokens) break;
    SeqInput& it = step[0];
    it.seq = seq;
    it.tokens = &ctx.tokens.back();
    it.positions = &pos;
    it.n = 1;
    ctx.run_forward(step, LogitsMode::Last, &last_logits, ctx.attn_hook);
  }
}

}  // namespace pcomp
