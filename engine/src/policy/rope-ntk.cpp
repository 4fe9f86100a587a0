// NTK-aware RoPE scaling (the paper's "NTK-Aware" baseline): base theta * factor^(d/(d-2)) for every
// position, whatever the length.
#include "rope-common.h"

namespace pcomp {
RopeParams rope_ntk(const PolicyConfig& cfg, const ModelConfig& m, int total_length) {
  RopeParams r = RopeParams::from_config(m);
  r.ntk_static = true;
  r.factor = rope_policy_factor(cfg, m, total_length, "rope.scaling=ntk");
  return r;
}

}  // namespace pcomp
