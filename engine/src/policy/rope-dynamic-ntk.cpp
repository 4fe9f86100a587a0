// Dynamic NTK (HF "dynamic" rope type, the paper's "Dynamic-PI" rows): the base grows with the
// largest position of each forward call once it passes the trained window; factor 0 = 1.
#include "rope-common.h"

namespace pcomp {
RopeParams rope_dynamic_ntk(const PolicyConfig& cfg, const ModelConfig& m, int total_length) {
  RopeParams r = RopeParams::from_config(m);
  rope_policy_factor(cfg, m, total_length, "rope.scaling=dynamic-ntk");  // checks the model's RoPE
  r.type = RopeType::Dynamic;
  r.factor = cfg.rope_factor > 0 ? cfg.rope_factor : 1.0;
  return r;
}

}  // namespace pcomp
