#include "registry.h"

#include <utility>

#include "../error.h"
#include "run.h"

namespace pcomp {
namespace {
template <class F>
F find(const std::vector<std::pair<const char*, F>>& table, const std::string& name, const char* what) {
  for (const auto& [n, f] : table)
    if (name == n) return f;
  throw EngineError(std::string("config: no ") + what + " named \"" + name + "\"");
}

std::vector<Stage> stages() {
  std::vector<Stage> t;
  auto add = [&](const char* key) -> Stage& { t.push_back(Stage{}); t.back().key = key; return t.back(); };
  add("rope-ntk").rope = rope_ntk;
  add("rope-dynamic-ntk").rope = rope_dynamic_ntk;
  add("rope-linear").rope = rope_linear;
  add("rope-yarn").rope = rope_yarn;
  add("chunk-prefill").drive = chunk_prefill;
  add("full-prefill").drive = full_prefill;
  add("chunk-evict-selfinfo").prune = chunk_evict_selfinfo;
  add("kv-evict-cumattn").select = kv_evict_cumattn;
  add("attn-calib-bias").calibrate = attn_calib_bias;
  add("global-reencode").global = global_reencode;
  Stage& streaming = add("cache-streaming");
  streaming.cache_prompt = cache_streaming_prompt;
  streaming.cache_roll = cache_streaming_roll;
  add("cache-snapkv").cache_select = cache_snapkv_select;
  Stage& dca = add("attn-dca");
  dca.position = attn_dca_position;
  dca.attn_hook = attn_dca_hook;
  add("trace-attention");  // observation only: the drivers record it (trace-attention.cpp)
  return t;
}
}  // namespace

const Stage& find_stage(const std::string& key) {
  static const std::vector<Stage> table = stages();
  for (const auto& s : table)
    if (key == s.key) return s;
  std::string known;
  for (const auto& s : table) known += std::string(known.empty() ? "" : ", ") + s.key;
  throw EngineError("config: \"pipeline\" names \"" + key + "\", which this engine has no policy for (policies: " + known + ")");
}

ChunkScorer find_chunk_scorer(const std::string& name) {
  static const std::vector<std::pair<const char*, ChunkScorer>> t = {{"mean-nll", score_mean_nll},
                                                                     {"reference-sum", score_reference_sum}};
  return find(t, name, "chunk scorer");
}

Pooling find_pooling(const std::string& name) {
  static const std::vector<std::pair<const char*, Pooling>> t = {{"max", pool_max}, {"avg", pool_avg}};
  return find(t, name, "pooling");
}

RegionTest find_region(const std::string& name) {
  static const std::vector<std::pair<const char*, RegionTest>> t = {
      {"sink", region_sink}, {"recent", region_recent}, {"middle", region_middle}, {"all", region_all}};
  return find(t, name, "calibration region");
}

}  // namespace pcomp
