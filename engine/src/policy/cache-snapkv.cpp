// The snapkv baseline (Li et al. 2024, with the reference code's settings): over the whole prompt,
// the last w tokens score every earlier token by cumulative attention; each cache set keeps its
// top `capacity - w` pooled tokens plus the window itself.
#include <algorithm>

#include "run.h"

namespace pcomp {

std::vector<std::vector<int32_t>> cache_snapkv_select(const RunContext& ctx, int layer, View q, int n_q, int seq) {
  const PolicyConfig& cfg = ctx.cfg;
  const int w = std::min(cfg.snapkv_window, n_q);
  const int capacity = cfg.snapkv_capacity > 0 ? cfg.snapkv_capacity : ctx.model.cfg.max_pos / 2;
  SnapKVParams p;
  p.window = w;
  p.kernel = cfg.snapkv_kernel;
  p.pooling = cfg.snapkv_pooling;
  p.cand_start = 0;
  p.cand_end = n_q - w;
  p.capacity = std::max(0, capacity - w);
  auto keep = snapkv_select(ctx, seq, layer, q, n_q, p);
  for (auto& k : keep)
    for (int j = n_q - w; j < n_q; ++j) k.push_back(j);
  return keep;
}

}  // namespace pcomp
