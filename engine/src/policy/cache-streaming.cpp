// The streaming baseline (StreamingLLM, Xiao et al. 2024): the cache holds `sink` attention-sink
// tokens and a recent window, with positions assigned inside the cache. Here that cache is built
// for the prompt directly (its first `sink` and last `window` tokens at positions 0..); it is not
// rolled during decoding, so with the default window (W - sink - maxNew) it never needs to be.
#include <algorithm>

#include "run.h"

namespace pcomp {

std::vector<int32_t> cache_streaming_prompt(const RunContext& ctx, const std::vector<int32_t>& prompt) {
  const PolicyConfig& cfg = ctx.cfg;
  const int after = ctx.sample.max_new_tokens;
  const int sink = cfg.streaming_sink;
  const int recent = cfg.streaming_window > 0 ? cfg.streaming_window : std::max(1, ctx.model.cfg.max_pos - sink - after);
  if (int(prompt.size()) <= sink + recent) return prompt;
  std::vector<int32_t> kept(prompt.begin(), prompt.begin() + sink);
  kept.insert(kept.end(), prompt.end() - recent, prompt.end());
  return kept;
}

}  // namespace pcomp
