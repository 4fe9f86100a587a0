// NTK-aware RoPE scaling (the paper's "NTK-Aware" baseline): base theta * factor^(d/(d-2)) for every
// position, whatever the length.
#include <algorithm>

#include "../error.h"
#include "run.h"

namespace pcomp {
namespace {
// The model must have plain RoPE; the auto factor is the run's total length over the trained window.
double factor_for(const PolicyConfig& cfg, const ModelConfig& m, int total_length, const char* key) {
  if (m.rope_type != RopeType::Default) throw EngineError(std::string("config: ") + key + " needs a model without its own rope_scaling");
  return cfg.rope_factor > 0 ? cfg.rope_factor : std::max(1.0, double(total_length) / double(m.max_pos));
}
}  // namespace

RopeParams rope_ntk(const PolicyConfig& cfg, const ModelConfig& m, int total_length) {
  RopeParams r = RopeParams::from_config(m);
  r.ntk_static = true;
  r.factor = factor_for(cfg, m, total_length, "rope.scaling=ntk");
  return r;
}

}  // namespace pcomp
