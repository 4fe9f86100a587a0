// Shared by the RoPE baselines (rope-ntk, rope-linear, rope-dynamic-ntk).
#pragma once
#include <algorithm>
#include <string>

#include "../error.h"
#include "run.h"

namespace pcomp {
// The model must have plain RoPE; the auto factor is the run's total length over the trained window.
inline double rope_policy_factor(const PolicyConfig& cfg, const ModelConfig& m, int total_length, const char* key) {
  if (m.rope_type != RopeType::Default)
    throw EngineError(std::string("config: ") + key + " needs a model without its own rope_scaling");
  return cfg.rope_factor > 0 ? cfg.rope_factor : std::max(1.0, double(total_length) / double(m.max_pos));
}
}  // namespace pcomp
