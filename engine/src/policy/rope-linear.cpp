// Linear position interpolation (Chen et al. 2023): every inverse frequency divided by the factor.
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

RopeParams rope_linear(const PolicyConfig& cfg, const ModelConfig& m, int total_length) {
  RopeParams r = RopeParams::from_config(m);
  r.type = RopeType::Linear;
  r.factor = factor_for(cfg, m, total_length, "rope.scaling=linear");
  return r;
}

}  // namespace pcomp
