// Dynamic NTK (HF "dynamic" rope type, the paper's "Dynamic-PI" rows): the base grows with the
// largest position of each forward call once it passes the trained window; factor 0 = 1.
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

RopeParams rope_dynamic_ntk(const PolicyConfig& cfg, const ModelConfig& m, int total_length) {
  RopeParams r = RopeParams::from_config(m);
  factor_for(cfg, m, total_length, "rope.scaling=dynamic-ntk");  // checks the model's RoPE
  r.type = RopeType::Dynamic;
  r.factor = cfg.rope_factor > 0 ? cfg.rope_factor : 1.0;
  return r;
}

}  // namespace pcomp
