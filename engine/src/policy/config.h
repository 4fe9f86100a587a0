// The resolved policy configuration (engine/policy-config.ts) as the engine reads it: one flat JSON
// object keyed by knob ("kvEvict.capacity": 512), plus "preset", "pipeline" and the per-sample
// "retrieval" flag. The knob schema is engine/knobs.json, embedded at build time (CMake generates
// pcomp_knobs_json.h from it) and read by both sides: names, types, ranges, defaults, the stage
// list and the cross-knob rules. Missing knobs take its defaults; an unknown key, a host-only knob
// (chunk.split, chunk.budget, chunk.count: the TS runner applies them) or a value out of range is
// an EngineError naming the key.
#pragma once
#include <string>
#include <vector>

#include "../json.h"

namespace pcomp {

struct CalibRule {
  std::string region;  // sink | recent | middle | all
  int from = 1, to = 1;  // 1-indexed layers, inclusive
};

struct PolicyConfig {
  std::string preset;
  // The policy registry keys to run, in order: the stages of engine/knobs.json whose conditions
  // hold (the TS side's pipelineOf reads the same table); derived from the knobs when the config has
  // none, and checked against them when it has.
  std::vector<std::string> pipeline;
  bool pipeline_given = false;
  bool retrieval = false;  // the sample is a retrieval task: keep chunkEvict.kRetrieval chunks

  // One member per knob of engine/knobs.json (the binding table is in config.cpp). parse_policy_config
  // sets every one from the schema's default first; these initializers only serve code that builds a
  // PolicyConfig by hand, and a native test checks that they equal the schema's defaults.
  std::string rope_scaling = "none";  // none | ntk | dynamic-ntk | linear | yarn
  double rope_factor = 0;
  double rope_beta_fast = 32, rope_beta_slow = 1;  // yarn
  int full_max_tokens = 0;

  bool chunk_enabled = false;
  // Host-only knobs (the TS runner cuts the chunks): always their defaults in the engine.
  std::string chunk_split = "tokens";
  int chunk_budget = 0, chunk_count = 0;
  int chunk_parallel = 8;

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

  // attention trace (pcomp attn): observation only
  bool trace_attention = false;
  int trace_window = 8, trace_bins = 64, trace_sink = 100, trace_recent = 100;
  std::string trace_after = "calib";
  bool dca = false;
  int dca_chunk_size = 0, dca_local_window = 0;
};

// The knob schema as the engine reads it.
struct KnobCondition {
  enum Op { Eq, Not, Min, NonEmpty } op = Eq;
  std::string key;
  JsonValue value;  // Eq, Not: the value; Min: the bound
};
struct KnobSpec {
  std::string key, type;  // bool | int | number | enum | calib-rules
  double min = 0, max = 0;
  bool has_max = false, odd = false, min_exclusive = false, max_exclusive = false;
  std::vector<std::string> values;  // enum values; calib-rules: the regions
  JsonValue default_value;
  bool host = false;
  std::string range;  // how the valid values read in an error (the TS describeType's words)
};
struct StageSpec {
  std::string key, section;  // key may end in {knob}: that enum knob's value
  std::vector<KnobCondition> when;
};
struct RuleSpec {
  std::vector<KnobCondition> when, require;  // no require: refused whenever `when` holds
  bool has_require = false;
  std::string message;
};
struct KnobSchema {
  std::vector<KnobSpec> knobs;
  std::vector<StageSpec> stages;
  std::vector<RuleSpec> rules;
};

// Parsed from the embedded engine/knobs.json and checked against PolicyConfig's members at first use;
// throws EngineError naming engine/knobs.json and the entry when either is wrong.
const KnobSchema& knob_schema();
// The embedded text of engine/knobs.json.
const char* knob_schema_source();
// The engine's view of the schema as JSON (pcomp_knob_schema): the source text, every knob with its
// type fields, range text, host flag and the default the engine applies, every stage with the
// registry keys it can expand to.
std::string knob_schema_json();
// Every registry key a stage can name: its key, or one per value of the {knob} it ends in that the
// stage's own conditions allow (rope-{rope.scaling} runs only when rope.scaling is not none).
std::vector<std::string> stage_keys(const StageSpec& s);

// The registry keys the knobs switch on, in order: the schema's stages whose conditions hold.
std::vector<std::string> derive_pipeline(const PolicyConfig& c);

// Parses and validates config_json; throws EngineError("config: ...") naming the key at fault.
PolicyConfig parse_policy_config(const char* json);

// The config as the engine holds it, as JSON: preset, retrieval, pipeline and every engine knob
// (host-only ones left out) read back from the members (pcomp_config_resolve).
std::string policy_config_json(const PolicyConfig& c);

}  // namespace pcomp
