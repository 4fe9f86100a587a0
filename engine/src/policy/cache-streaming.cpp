// The streaming baseline (StreamingLLM, Xiao et al. 2024): the cache holds `sink` attention-sink
// tokens and a recent window, with positions assigned inside the cache. For the prompt that cache is
// built directly (its first `sink` and last `window` tokens at positions 0..); while decoding, once
// the cache is full, the oldest recent entry leaves and the later keys are re-rotated one position
// down, so every new token enters at the last slot.
#include <algorithm>

#include "../error.h"
#include "run.h"

namespace pcomp {

namespace {
int recent_of(const RunContext& ctx) {
  const PolicyConfig& cfg = ctx.cfg;
  return cfg.streaming_window > 0 ? cfg.streaming_window
                                  : std::max(1, ctx.model.cfg.max_pos - cfg.streaming_sink - ctx.sample.max_new_tokens);
}
}  // namespace

namespace {
// The RoPE table re-rotation uses, on the backend (inv_freq does not depend on the position).
void upload_inv_freq(const Backend& be, const RopeParams& rope, int hd, DeviceArray& out) {
  // dynamic NTK and longrope (short / long factors by the call's largest position) depend on the length.
  if (rope.type == RopeType::Dynamic || rope.type == RopeType::LongRope)
    throw EngineError("streaming: re-rotating keys needs a RoPE that does not depend on the length (not dynamic or longrope)");
  std::vector<float> inv(hd / 2);
  rope_inv_freq(rope, hd, 0, inv.data());
  out.grow(be, inv.size() * sizeof(float));
  be.upload(out.get(), 0, inv.data(), inv.size() * sizeof(float));
}
}  // namespace

void rerotate_keys(const Backend& be, const RopeParams& rope, KVCache& cache, int seq, int layer, int set, int from,
                   int delta) {
  if (cache.length(seq, layer, set) - from <= 0 || delta == 0) return;
  DeviceArray inv;
  upload_inv_freq(be, rope, cache.head_dim(), inv);
  cache.shift_positions(seq, layer, set, from, delta, inv.view());
}

int cache_streaming_roll(RunContext& ctx, int seq) {
  const int sink = ctx.cfg.streaming_sink, cap = sink + recent_of(ctx);
  int len = ctx.cache.length(seq, 0, 0);
  if (len < cap) return len;
  // Once per step, not per head: the table and the keep list are the same for every head.
  DeviceArray inv;
  upload_inv_freq(ctx.be, ctx.rope, ctx.cache.head_dim(), inv);
  std::vector<int32_t> keep;
  for (int l = 0; l < ctx.model.cfg.n_layers; ++l)
    for (int s = 0; s < ctx.sets(); ++s) {
      keep.clear();
      for (int j = 0; j < ctx.cache.length(seq, l, s); ++j)
        if (j != sink) keep.push_back(j);
      ctx.cache.gather(seq, l, s, keep.data(), int(keep.size()));
      ctx.cache.shift_positions(seq, l, s, sink, -1, inv.view());
    }
  return ctx.cache.length(seq, 0, 0);
}

std::vector<int32_t> cache_streaming_prompt(const RunContext& ctx, const std::vector<int32_t>& prompt) {
  const int sink = ctx.cfg.streaming_sink, recent = recent_of(ctx);
  if (int(prompt.size()) <= sink + recent) return prompt;
  std::vector<int32_t> kept(prompt.begin(), prompt.begin() + sink);
  kept.insert(kept.end(), prompt.end() - recent, prompt.end());
  return kept;
}

}  // namespace pcomp
