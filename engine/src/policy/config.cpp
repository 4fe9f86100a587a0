// Table-driven reader of the resolved policy config: each knob names its JSON key, its type and
// range (the same as engine/presets/knobs.ts) and the field it fills.
#include "config.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <sstream>

#include "../error.h"
#include "../json.h"

namespace pcomp {
namespace {

[[noreturn]] void fail(const std::string& msg) { throw EngineError("config: " + msg); }

std::string show(const JsonValue& v) {
  switch (v.kind) {
    case JsonValue::Null: return "null";
    case JsonValue::Bool: return v.b ? "true" : "false";
    case JsonValue::Number: { std::ostringstream o; o << v.num; return o.str(); }
    case JsonValue::String: return "\"" + v.str + "\"";
    case JsonValue::Array: return "an array";
    case JsonValue::Object: return "an object";
  }
  return "?";
}

auto boolean(bool PolicyConfig::*f) {
  return [f](const JsonValue& v, PolicyConfig& c) {
    if (v.kind != JsonValue::Bool) throw 0;
    c.*f = v.b;
  };
}

auto integer(int PolicyConfig::*f, int min, int max = INT32_MAX, bool odd = false) {
  return [=](const JsonValue& v, PolicyConfig& c) {
    if (!v.is_number() || v.num != std::floor(v.num) || v.num < min || v.num > max) throw 0;
    if (odd && int(v.num) % 2 == 0) throw 0;
    c.*f = int(v.num);
  };
}

auto number(double PolicyConfig::*f, double min, bool min_ex, double max, bool max_ex) {
  return [=](const JsonValue& v, PolicyConfig& c) {
    if (!v.is_number() || !std::isfinite(v.num)) throw 0;
    if (min_ex ? v.num <= min : v.num < min) throw 0;
    if (max_ex ? v.num >= max : v.num > max) throw 0;
    c.*f = v.num;
  };
}

auto oneof(std::string PolicyConfig::*f, std::vector<std::string> values) {
  return [=](const JsonValue& v, PolicyConfig& c) {
    if (!v.is_string()) throw 0;
    for (const auto& s : values)
      if (s == v.str) { c.*f = v.str; return; }
    throw 0;
  };
}

void rules(const JsonValue& v, PolicyConfig& c) {
  if (!v.is_array()) throw 0;
  std::vector<CalibRule> out;
  for (const auto& r : v.arr) {
    if (!r.is_object()) throw 0;
    CalibRule rule;
    const JsonValue *region = r.get("region"), *from = r.get("from"), *to = r.get("to");
    if (r.obj.size() != 3 || !region || !from || !to || !region->is_string() || !from->is_number() || !to->is_number()) throw 0;
    if (region->str != "sink" && region->str != "recent" && region->str != "middle" && region->str != "all") throw 0;
    if (from->num != std::floor(from->num) || to->num != std::floor(to->num) || from->num < 1 || to->num < from->num) throw 0;
    rule.region = region->str;
    rule.from = int(from->num);
    rule.to = int(to->num);
    out.push_back(rule);
  }
  c.calib_rules = out;
}

struct Entry {
  const char* key;
  const char* range;  // how the valid values read in an error
  std::function<void(const JsonValue&, PolicyConfig&)> read;
};

const std::vector<Entry>& table() {
  using C = PolicyConfig;
  static const double inf = INFINITY;
  static const std::vector<Entry> t = {
      {"rope.scaling", "none|ntk|dynamic-ntk|linear", oneof(&C::rope_scaling, {"none", "ntk", "dynamic-ntk", "linear"})},
      {"rope.factor", "number >= 0", number(&C::rope_factor, 0, false, inf, false)},
      {"full.maxTokens", "int >= 0", integer(&C::full_max_tokens, 0)},
      {"chunk.enabled", "true|false", boolean(&C::chunk_enabled)},
      {"chunk.split", "tokens|chars", oneof(&C::chunk_split, {"tokens", "chars"})},
      {"chunk.budget", "int >= 0", integer(&C::chunk_budget, 0)},
      {"chunk.count", "int >= 0", integer(&C::chunk_count, 0)},
      {"chunk.parallel", "int >= 0", integer(&C::chunk_parallel, 0)},
      {"chunkEvict.enabled", "true|false", boolean(&C::chunk_evict)},
      {"chunkEvict.method", "selfinfo", oneof(&C::chunk_evict_method, {"selfinfo"})},
      {"chunkEvict.k", "int >= 1", integer(&C::chunk_evict_k, 1)},
      {"chunkEvict.kRetrieval", "int >= 1", integer(&C::chunk_evict_k_retrieval, 1)},
      {"chunkEvict.score", "mean-nll|reference-sum", oneof(&C::chunk_evict_score, {"mean-nll", "reference-sum"})},
      {"chunkEvict.scoreTokens", "int >= 0", integer(&C::chunk_evict_score_tokens, 0)},
      {"chunkEvict.keepOrder", "true|false", boolean(&C::chunk_evict_keep_order)},
      {"kvEvict.enabled", "true|false", boolean(&C::kv_evict)},
      {"kvEvict.method", "cumattn", oneof(&C::kv_method, {"cumattn"})},
      {"kvEvict.window", "int >= 1", integer(&C::kv_window, 1)},
      {"kvEvict.kernel", "int >= 1, odd", integer(&C::kv_kernel, 1, INT32_MAX, true)},
      {"kvEvict.pooling", "max|avg", oneof(&C::kv_pooling, {"max", "avg"})},
      {"kvEvict.capacity", "int >= 0", integer(&C::kv_capacity, 0)},
      {"kvEvict.gqa", "group-sum|expanded-heads", oneof(&C::kv_gqa, {"group-sum", "expanded-heads"})},
      {"kvEvict.bos", "always-keep|reference", oneof(&C::kv_bos, {"always-keep", "reference"})},
      {"kvEvict.capacityRule", "per-chunk|sample-min", oneof(&C::kv_capacity_rule, {"per-chunk", "sample-min"})},
      {"calib.enabled", "true|false", boolean(&C::calib)},
      {"calib.method", "bias", oneof(&C::calib_method, {"bias"})},
      {"calib.stage", "reencode|chunk", oneof(&C::calib_stage, {"reencode", "chunk"})},
      {"calib.rules", "list of {region: sink|recent|middle|all, from, to} with 1 <= from <= to", rules},
      {"calib.threshold", "number > 0, < 1", number(&C::calib_threshold, 0, true, 1, true)},
      {"calib.sinkSize", "int >= 1", integer(&C::calib_sink, 1)},
      {"calib.recentSize", "int >= 1", integer(&C::calib_recent, 1)},
      {"calib.queryRows", "int >= 0", integer(&C::calib_query_rows, 0)},
      {"calib.equalise", "true|false", boolean(&C::calib_equalise)},
      {"calib.gqa", "group-mean|group-max|expanded-heads", oneof(&C::calib_gqa, {"group-mean", "group-max", "expanded-heads"})},
      {"calib.regionOver", "context|context-and-question", oneof(&C::calib_region_over, {"context", "context-and-question"})},
      {"calib.strictEdges", "true|false", boolean(&C::calib_strict_edges)},
      {"calib.reencodeMask", "by-position|bottom-right", oneof(&C::calib_reencode_mask, {"by-position", "bottom-right"})},
      {"global.questionStart", "longest-kept|longest-all", oneof(&C::global_question_start, {"longest-kept", "longest-all"})},
      {"global.dropChunkQuestion", "true|false", boolean(&C::global_drop_chunk_question)},
      {"global.bos", "keep-first|drop-index0|keep-all", oneof(&C::global_bos, {"keep-first", "drop-index0", "keep-all"})},
      {"global.questionBos", "true|false", boolean(&C::global_question_bos)},
      {"streaming.enabled", "true|false", boolean(&C::streaming)},
      {"streaming.sink", "int >= 0", integer(&C::streaming_sink, 0)},
      {"streaming.window", "int >= 0", integer(&C::streaming_window, 0)},
      {"snapkv.enabled", "true|false", boolean(&C::snapkv)},
      {"snapkv.window", "int >= 1", integer(&C::snapkv_window, 1)},
      {"snapkv.capacity", "int >= 0", integer(&C::snapkv_capacity, 0)},
      {"snapkv.kernel", "int >= 1, odd", integer(&C::snapkv_kernel, 1, INT32_MAX, true)},
      {"snapkv.pooling", "max|avg", oneof(&C::snapkv_pooling, {"max", "avg"})},
      {"preset", "a string", [](const JsonValue& v, PolicyConfig& c) { if (!v.is_string()) throw 0; c.preset = v.str; }},
      {"retrieval", "true|false", boolean(&C::retrieval)},
      {"pipeline", "a list of policy registry keys", [](const JsonValue& v, PolicyConfig& c) {
         if (!v.is_array()) throw 0;
         c.pipeline.clear();
         for (const auto& k : v.arr) {
           if (!k.is_string()) throw 0;
           c.pipeline.push_back(k.str);
         }
         c.pipeline_given = true;
       }},
  };
  return t;
}

void check_consistency(const PolicyConfig& c) {
  if (!c.chunk_enabled) {
    if (c.chunk_evict) fail("chunkEvict.enabled=true needs chunk.enabled=true (it is a stage of the chunked pipeline)");
    if (c.kv_evict) fail("kvEvict.enabled=true needs chunk.enabled=true (it is a stage of the chunked pipeline)");
    if (c.calib) fail("calib.enabled=true needs chunk.enabled=true (it is a stage of the chunked pipeline)");
  } else {
    if (c.streaming) fail("streaming.enabled=true runs on the whole prompt; set chunk.enabled=false");
    if (c.snapkv) fail("snapkv.enabled=true runs on the whole prompt; set chunk.enabled=false");
  }
  if (c.streaming && c.snapkv) fail("streaming.enabled and snapkv.enabled cannot both be true");
  if (c.rope_factor != 0 && c.rope_factor < 1) fail("rope.factor must be 0 (auto) or >= 1");
  if (c.calib && c.calib_rules.empty()) fail("calib.enabled=true needs at least one rule in calib.rules");
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& k : v) s += (s.empty() ? "" : ", ") + k;
  return "[" + s + "]";
}

}  // namespace

std::vector<std::string> derive_pipeline(const PolicyConfig& c) {
  std::vector<std::string> keys;
  if (c.rope_scaling != "none") keys.push_back("rope-" + c.rope_scaling);
  if (!c.chunk_enabled) {
    keys.push_back("full-prefill");
    if (c.streaming) keys.push_back("cache-streaming");
    if (c.snapkv) keys.push_back("cache-snapkv");
    return keys;
  }
  keys.push_back("chunk-prefill");
  if (c.chunk_evict) keys.push_back("chunk-evict-" + c.chunk_evict_method);
  if (c.kv_evict) keys.push_back("kv-evict-" + c.kv_method);
  if (c.calib) keys.push_back("attn-calib-" + c.calib_method);
  keys.push_back("global-reencode");
  return keys;
}

PolicyConfig parse_policy_config(const char* json) {
  if (!json) fail("no config given");
  JsonValue root;
  try {
    root = json_parse(json, std::strlen(json));
  } catch (const JsonError& e) {
    fail(std::string("not valid JSON (") + e.what() + ")");
  }
  if (!root.is_object()) fail("must be a JSON object of knob: value");
  PolicyConfig c;
  for (const auto& [key, value] : root.obj) {
    const Entry* e = nullptr;
    for (const auto& t : table())
      if (key == t.key) e = &t;
    if (!e) {
      std::string keys;
      for (const auto& t : table()) keys += std::string(keys.empty() ? "" : ", ") + t.key;
      fail("unknown key \"" + key + "\" (valid keys: " + keys + ")");
    }
    try {
      e->read(value, c);
    } catch (int) {
      fail("key \"" + key + "\" must be " + e->range + ", got " + show(value));
    }
  }
  check_consistency(c);
  const auto derived = derive_pipeline(c);
  if (c.pipeline_given && c.pipeline != derived)
    fail("key \"pipeline\" is " + joined(c.pipeline) + " but the knobs enable " + joined(derived));
  c.pipeline = derived;
  return c;
}

}  // namespace pcomp
