// The resolved policy configuration (engine/policy-config.ts) as the engine reads it: one flat JSON
// object keyed by knob ("chunk.budget": 7600), plus "preset" and the per-sample "retrieval" flag.
// Missing knobs take the schema defaults of engine/presets/knobs.ts; an unknown key or a value out of
// range is an EngineError naming the key.
#pragma once
#include <string>
#include <vector>

namespace pcomp {

struct CalibRule {
  std::string region;  // sink | recent | middle | all
  int from = 1, to = 1;  // 1-indexed layers, inclusive
};

struct PolicyConfig {
  std::string preset;
  // The policy registry keys to run, in order (engine/presets/knobs.ts pipelineOf); derived from the
  // knobs when the config has none, and checked against them when it has.
  std::vector<std::string> pipeline;
  bool pipeline_given = false;
  bool retrieval = false;  // the sample is a retrieval task: keep chunkEvict.kRetrieval chunks

  std::string rope_scaling = "none";  // none | ntk | dynamic-ntk | linear
  double rope_factor = 0;
  int full_max_tokens = 0;

  bool chunk_enabled = false;
  std::string chunk_split = "tokens";  // applied in TS; carried for the trace
  int chunk_budget = 0, chunk_count = 0, chunk_parallel = 0;

  bool chunk_evict = false;
  std::string chunk_evict_method = "selfinfo";
  int chunk_evict_k = 3, chunk_evict_k_retrieval = 1;
  std::string chunk_evict_score = "mean-nll";
  int chunk_evict_score_tokens = 0;
  bool chunk_evict_keep_order = true;

  bool kv_evict = false;
  std::string kv_method = "cumattn";
  int kv_window = 8, kv_kernel = 7, kv_capacity = 0;
  std::string kv_pooling = "max", kv_gqa = "group-sum", kv_bos = "always-keep", kv_capacity_rule = "per-chunk";

  bool calib = false;
  std::string calib_method = "bias";
  std::string calib_stage = "reencode";
  std::vector<CalibRule> calib_rules = {{"middle", 1, 8}, {"recent", 9, 16}, {"sink", 25, 32}};
  double calib_threshold = 0.1;
  int calib_sink = 100, calib_recent = 100, calib_query_rows = 1;
  bool calib_equalise = true;
  std::string calib_gqa = "group-mean", calib_region_over = "context", calib_reencode_mask = "by-position";
  bool calib_strict_edges = false;

  std::string global_question_start = "longest-kept", global_bos = "keep-first";
  bool global_drop_chunk_question = true, global_question_bos = false;

  bool streaming = false;
  int streaming_sink = 4, streaming_window = 0;
  bool snapkv = false;
  int snapkv_window = 8, snapkv_capacity = 0, snapkv_kernel = 7;
  std::string snapkv_pooling = "max";
};

// The registry keys the knobs switch on, in order: rope-<scaling>?, then full-prefill
// [cache-streaming] [cache-snapkv], or chunk-prefill [chunk-evict-<m>] [kv-evict-<m>]
// [attn-calib-<m>] global-reencode.
std::vector<std::string> derive_pipeline(const PolicyConfig& c);

// Parses and validates config_json; throws EngineError("config: ...") naming the key at fault.
PolicyConfig parse_policy_config(const char* json);

}  // namespace pcomp
