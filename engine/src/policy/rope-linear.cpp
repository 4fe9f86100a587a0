// Linear position interpolation (Chen et al. 2023): every inverse frequency divided by the factor.
#include "rope-common.h"

namespace pcomp {
RopeParams rope_linear(const PolicyConfig& cfg, const ModelConfig& m, int total_length) {
  RopeParams r = RopeParams::from_config(m);
  r.type = RopeType::Linear;
  r.factor = rope_policy_factor(cfg, m, total_length, "rope.scaling=linear");
  return r;
}

}  // namespace pcomp
