// YaRN (Peng et al. 2023, arXiv 2309.00071) as a length-extension baseline, computed exactly as
// transformers' _compute_yarn_parameters does for rope_scaling {"rope_type": "yarn"} with
// original_max_position_embeddings = the model's trained window: frequencies that turn fewer than
// beta_slow times over the window are divided by the factor, those that turn more than beta_fast times
// are kept, a linear ramp in between (truncated range); q and k times 0.1 ln(factor) + 1.
#include <cmath>

#include "rope-common.h"

namespace pcomp {
RopeParams rope_yarn(const PolicyConfig& cfg, const ModelConfig& m, int total_length) {
  RopeParams r = RopeParams::from_config(m);
  r.type = RopeType::Yarn;
  r.factor = rope_policy_factor(cfg, m, total_length, "rope.scaling=yarn");
  r.orig_max_pos = m.max_pos;
  r.beta_fast = cfg.rope_beta_fast;
  r.beta_slow = cfg.rope_beta_slow;
  r.yarn_truncate = true;
  r.attn_factor = r.factor <= 1 ? 1.0 : 0.1 * std::log(r.factor) + 1.0;
  return r;
}

}  // namespace pcomp
