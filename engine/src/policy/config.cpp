// Reader of the resolved policy config, driven by the knob schema engine/knobs.json (embedded at
// build time as pcomp_knobs_json.h): each knob's type, range and default come from the schema, the
// pipeline from its stage list, the cross-knob checks from its rules. What is written here is only
// the binding of each knob to its PolicyConfig member, checked against the schema at first use.
#include "config.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <variant>

#include "../error.h"
#include "../json_write.h"
#include "pcomp_knobs_json.h"

namespace pcomp {
namespace {

constexpr const char* kSchemaFile = "engine/knobs.json (built into the engine)";

[[noreturn]] void fail(const std::string& msg) { throw EngineError("config: " + msg); }

// --- JSON values: shortest round-trip numbers (as JavaScript prints them), writing, equality ---------

std::string num_text(double v) {
  if (!std::isfinite(v)) return "null";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char b[32];
    std::snprintf(b, sizeof b, "%.0f", v);
    return b;
  }
  char b[40];
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(b, sizeof b, "%.*g", p, v);
    if (std::strtod(b, nullptr) == v) break;
  }
  return b;
}

void write_json(std::ostringstream& o, const JsonValue& v) {
  switch (v.kind) {
    case JsonValue::Null: o << "null"; break;
    case JsonValue::Bool: o << (v.b ? "true" : "false"); break;
    case JsonValue::Number: o << num_text(v.num); break;
    case JsonValue::String: o << '"' << json_escape(v.str) << '"'; break;
    case JsonValue::Array:
      o << '[';
      for (size_t i = 0; i < v.arr.size(); ++i) {
        if (i) o << ',';
        write_json(o, v.arr[i]);
      }
      o << ']';
      break;
    case JsonValue::Object:
      o << '{';
      for (size_t i = 0; i < v.obj.size(); ++i) {
        if (i) o << ',';
        o << '"' << json_escape(v.obj[i].first) << "\":";
        write_json(o, v.obj[i].second);
      }
      o << '}';
      break;
  }
}

std::string show(const JsonValue& v) {
  if (v.kind == JsonValue::Array) return "an array";
  if (v.kind == JsonValue::Object) return "an object";
  std::ostringstream o;
  write_json(o, v);
  return o.str();
}

bool same_scalar(const JsonValue& a, const JsonValue& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case JsonValue::Bool: return a.b == b.b;
    case JsonValue::Number: return a.num == b.num;
    case JsonValue::String: return a.str == b.str;
    default: return false;
  }
}

JsonValue jbool(bool b) { JsonValue v; v.kind = JsonValue::Bool; v.b = b; return v; }
JsonValue jnum(double d) { JsonValue v; v.kind = JsonValue::Number; v.num = d; return v; }
JsonValue jstr(const std::string& s) { JsonValue v; v.kind = JsonValue::String; v.str = s; return v; }
JsonValue jarr() { JsonValue v; v.kind = JsonValue::Array; return v; }
JsonValue jobj() { JsonValue v; v.kind = JsonValue::Object; return v; }
void put(JsonValue& o, const std::string& k, JsonValue v) { o.obj.emplace_back(k, std::move(v)); }

// --- The binding: knob key -> PolicyConfig member ------------------------------------------------------

using C = PolicyConfig;
using Member = std::variant<bool C::*, int C::*, double C::*, std::string C::*, std::vector<CalibRule> C::*>;
struct Binding {
  const char* key;
  Member member;
};

const std::vector<Binding>& bindings() {
  static const std::vector<Binding> b = {
      {"rope.scaling", &C::rope_scaling},
      {"rope.factor", &C::rope_factor},
      {"rope.betaFast", &C::rope_beta_fast},
      {"rope.betaSlow", &C::rope_beta_slow},
      {"full.maxTokens", &C::full_max_tokens},
      {"chunk.enabled", &C::chunk_enabled},
      {"chunk.split", &C::chunk_split},
      {"chunk.budget", &C::chunk_budget},
      {"chunk.count", &C::chunk_count},
      {"chunk.parallel", &C::chunk_parallel},
      {"chunkEvict.enabled", &C::chunk_evict},
      {"chunkEvict.method", &C::chunk_evict_method},
      {"chunkEvict.k", &C::chunk_evict_k},
      {"chunkEvict.kRetrieval", &C::chunk_evict_k_retrieval},
      {"chunkEvict.score", &C::chunk_evict_score},
      {"chunkEvict.scoreTokens", &C::chunk_evict_score_tokens},
      {"chunkEvict.keepOrder", &C::chunk_evict_keep_order},
      {"kvEvict.enabled", &C::kv_evict},
      {"kvEvict.method", &C::kv_method},
      {"kvEvict.window", &C::kv_window},
      {"kvEvict.kernel", &C::kv_kernel},
      {"kvEvict.pooling", &C::kv_pooling},
      {"kvEvict.capacity", &C::kv_capacity},
      {"kvEvict.gqa", &C::kv_gqa},
      {"kvEvict.bos", &C::kv_bos},
      {"kvEvict.capacityRule", &C::kv_capacity_rule},
      {"calib.enabled", &C::calib},
      {"calib.method", &C::calib_method},
      {"calib.stage", &C::calib_stage},
      {"calib.rules", &C::calib_rules},
      {"calib.threshold", &C::calib_threshold},
      {"calib.sinkSize", &C::calib_sink},
      {"calib.recentSize", &C::calib_recent},
      {"calib.queryRows", &C::calib_query_rows},
      {"calib.equalise", &C::calib_equalise},
      {"calib.gqa", &C::calib_gqa},
      {"calib.regionOver", &C::calib_region_over},
      {"calib.strictEdges", &C::calib_strict_edges},
      {"calib.reencodeMask", &C::calib_reencode_mask},
      {"global.questionStart", &C::global_question_start},
      {"global.dropChunkQuestion", &C::global_drop_chunk_question},
      {"global.bos", &C::global_bos},
      {"global.questionBos", &C::global_question_bos},
      {"streaming.enabled", &C::streaming},
      {"streaming.sink", &C::streaming_sink},
      {"streaming.window", &C::streaming_window},
      {"snapkv.enabled", &C::snapkv},
      {"snapkv.window", &C::snapkv_window},
      {"snapkv.capacity", &C::snapkv_capacity},
      {"snapkv.kernel", &C::snapkv_kernel},
      {"snapkv.pooling", &C::snapkv_pooling},
      {"trace.attention", &C::trace_attention},
      {"trace.window", &C::trace_window},
      {"trace.bins", &C::trace_bins},
      {"trace.after", &C::trace_after},
      {"trace.sinkSize", &C::trace_sink},
      {"trace.recentSize", &C::trace_recent},
      {"dca.enabled", &C::dca},
      {"dca.chunkSize", &C::dca_chunk_size},
      {"dca.localWindow", &C::dca_local_window},
  };
  return b;
}

// The schema type a member can hold.
bool member_fits_type(const Member& m, const std::string& type) {
  switch (m.index()) {
    case 0: return type == "bool";
    case 1: return type == "int";
    case 2: return type == "number";
    case 3: return type == "enum";
    case 4: return type == "calib-rules";
  }
  return false;
}

JsonValue read_member(const PolicyConfig& c, const Member& m) {
  switch (m.index()) {
    case 0: return jbool(c.*std::get<0>(m));
    case 1: return jnum(c.*std::get<1>(m));
    case 2: return jnum(c.*std::get<2>(m));
    case 3: return jstr(c.*std::get<3>(m));
    default: {
      JsonValue a = jarr();
      for (const CalibRule& r : c.*std::get<4>(m)) {
        JsonValue o = jobj();
        put(o, "region", jstr(r.region));
        put(o, "from", jnum(r.from));
        put(o, "to", jnum(r.to));
        a.arr.push_back(std::move(o));
      }
      return a;
    }
  }
}

// Stores a value already checked by value_fits.
void write_member(PolicyConfig& c, const Member& m, const JsonValue& v) {
  switch (m.index()) {
    case 0: c.*std::get<0>(m) = v.b; break;
    case 1: c.*std::get<1>(m) = int(v.num); break;
    case 2: c.*std::get<2>(m) = v.num; break;
    case 3: c.*std::get<3>(m) = v.str; break;
    default: {
      std::vector<CalibRule> rules;
      for (const JsonValue& r : v.arr) rules.push_back({r.get("region")->str, int(r.get("from")->num), int(r.get("to")->num)});
      c.*std::get<4>(m) = rules;
    }
  }
}

// --- Values against a knob's type -------------------------------------------------------------------

bool is_int(double v) { return std::isfinite(v) && v == std::floor(v); }

bool value_fits(const KnobSpec& k, const JsonValue& v) {
  if (k.type == "bool") return v.kind == JsonValue::Bool;
  if (k.type == "int" || k.type == "number") {
    if (!v.is_number() || !std::isfinite(v.num)) return false;
    if (k.type == "int") {
      if (!is_int(v.num) || std::fabs(v.num) > 2147483647.0) return false;
      if (k.odd && std::fmod(v.num, 2.0) == 0) return false;
    }
    if (k.min_exclusive ? v.num <= k.min : v.num < k.min) return false;
    if (k.has_max && (k.max_exclusive ? v.num >= k.max : v.num > k.max)) return false;
    return true;
  }
  if (k.type == "enum") {
    if (!v.is_string()) return false;
    for (const auto& s : k.values)
      if (s == v.str) return true;
    return false;
  }
  // calib-rules
  if (!v.is_array()) return false;
  for (const JsonValue& r : v.arr) {
    if (!r.is_object() || r.obj.size() != 3) return false;
    const JsonValue *region = r.get("region"), *from = r.get("from"), *to = r.get("to");
    if (!region || !from || !to || !region->is_string() || !from->is_number() || !to->is_number()) return false;
    bool known = false;
    for (const auto& s : k.values) known = known || s == region->str;
    if (!known || !is_int(from->num) || !is_int(to->num) || from->num < 1 || to->num < from->num || to->num > 2147483647.0)
      return false;
  }
  return true;
}

// The range as the TS side's describeType writes it (engine/policy-config.ts).
std::string describe(const KnobSpec& k) {
  auto joined = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : "|") + x;
    return s;
  };
  if (k.type == "bool") return "true|false";
  if (k.type == "int")
    return "int >= " + num_text(k.min) + (k.has_max ? ", <= " + num_text(k.max) : "") + (k.odd ? ", odd" : "");
  if (k.type == "number") {
    const std::string lo = std::string(k.min_exclusive ? "> " : ">= ") + num_text(k.min);
    return k.has_max ? "number " + lo + ", " + (k.max_exclusive ? "< " : "<= ") + num_text(k.max) : "number " + lo;
  }
  if (k.type == "enum") return joined(k.values);
  return "list of region:from-to (region " + joined(k.values) + ", layers 1-indexed)";
}

bool holds(const KnobCondition& c, const JsonValue& v) {
  switch (c.op) {
    case KnobCondition::Eq: return same_scalar(v, c.value);
    case KnobCondition::Not: return !same_scalar(v, c.value);
    case KnobCondition::Min: return v.is_number() && v.num >= c.value.num;
    case KnobCondition::NonEmpty: return v.is_array() && !v.arr.empty();
  }
  return false;
}

// --- The schema: parsed from the embedded file, checked against the binding ---------------------------

struct Loaded {
  KnobSchema schema;
  std::vector<const Member*> member;  // per schema knob
};

[[noreturn]] void bad_schema(const std::string& at, const std::string& msg) {
  throw EngineError(std::string(kSchemaFile) + ": " + at + msg);
}

std::vector<std::string> string_list(const JsonValue& o, const char* field, const std::string& at) {
  const JsonValue* v = o.get(field);
  if (!v || !v->is_array() || v->arr.empty()) bad_schema(at, std::string("field \"") + field + "\" must be a non-empty list of strings");
  std::vector<std::string> out;
  for (const JsonValue& s : v->arr) {
    if (!s.is_string()) bad_schema(at, std::string("field \"") + field + "\" must be a non-empty list of strings");
    out.push_back(s.str);
  }
  return out;
}

const KnobSpec* find_knob(const KnobSchema& s, const std::string& key) {
  for (const KnobSpec& k : s.knobs)
    if (k.key == key) return &k;
  return nullptr;
}

std::vector<KnobCondition> conditions(const KnobSchema& s, const JsonValue* v, const std::string& at, const char* field) {
  if (!v || !v->is_object() || v->obj.empty()) bad_schema(at, std::string("field \"") + field + "\" must be a non-empty object");
  std::vector<KnobCondition> out;
  for (const auto& [key, c] : v->obj) {
    const std::string cat = at + field + " \"" + key + "\": ";
    const KnobSpec* k = find_knob(s, key);
    if (!k) bad_schema(cat, "no such knob");
    if (k->host) bad_schema(cat, "a host knob never reaches the engine");
    KnobCondition cond;
    cond.key = key;
    if (c.is_object()) {
      if (c.obj.size() != 1) bad_schema(cat, "a condition object has one operator");
      const std::string& op = c.obj[0].first;
      cond.value = c.obj[0].second;
      if (op == "not") cond.op = KnobCondition::Not;
      else if (op == "min" && cond.value.is_number()) cond.op = KnobCondition::Min;
      else if (op == "nonEmpty" && k->type == "calib-rules") cond.op = KnobCondition::NonEmpty;
      else bad_schema(cat, "unknown condition \"" + op + "\"");
    } else {
      cond.op = KnobCondition::Eq;
      cond.value = c;
    }
    if ((cond.op == KnobCondition::Eq || cond.op == KnobCondition::Not) && (k->type == "calib-rules" || !value_fits(*k, cond.value)))
      bad_schema(cat, show(cond.value) + " is not a value of this knob");
    out.push_back(std::move(cond));
  }
  return out;
}

Loaded load_schema() {
  JsonValue root;
  try {
    root = json_parse(kKnobsJsonText, std::strlen(kKnobsJsonText));
  } catch (const JsonError& e) {
    bad_schema("", std::string("not valid JSON (") + e.what() + ")");
  }
  if (!root.is_object()) bad_schema("", "must be a JSON object");
  Loaded L;
  KnobSchema& s = L.schema;
  const JsonValue* knobs = root.get("knobs");
  if (!knobs || !knobs->is_array()) bad_schema("", "field \"knobs\" must be a list");
  for (size_t i = 0; i < knobs->arr.size(); ++i) {
    const JsonValue& o = knobs->arr[i];
    std::string at = "knobs[" + std::to_string(i) + "]: ";
    if (!o.is_object()) bad_schema(at, "must be an object");
    const JsonValue *key = o.get("key"), *type = o.get("type"), *def = o.get("default");
    if (!key || !key->is_string()) bad_schema(at, "field \"key\" must be a string");
    at = "knobs[" + std::to_string(i) + "] \"" + key->str + "\": ";
    if (find_knob(s, key->str)) bad_schema(at, "key appears twice");
    if (!type || !type->is_string()) bad_schema(at, "field \"type\" must be a string");
    KnobSpec k;
    k.key = key->str;
    k.type = type->str;
    auto number = [&](const char* f, double& out) {
      const JsonValue* v = o.get(f);
      if (!v) return false;
      if (!v->is_number()) bad_schema(at, std::string("field \"") + f + "\" must be a number");
      out = v->num;
      return true;
    };
    auto flag = [&](const char* f) {
      const JsonValue* v = o.get(f);
      if (v && v->kind != JsonValue::Bool) bad_schema(at, std::string("field \"") + f + "\" must be true or false");
      return v && v->b;
    };
    if (k.type == "int" || k.type == "number") {
      if (!number("min", k.min)) bad_schema(at, "field \"min\" must be a number");
      k.has_max = number("max", k.max);
      k.odd = flag("odd");
      k.min_exclusive = flag("minExclusive");
      k.max_exclusive = flag("maxExclusive");
    } else if (k.type == "enum") {
      k.values = string_list(o, "values", at);
    } else if (k.type == "calib-rules") {
      k.values = string_list(o, "regions", at);
    } else if (k.type != "bool") {
      bad_schema(at, "field \"type\" must be bool, int, number, enum or calib-rules");
    }
    k.host = flag("host");
    if (!def || !value_fits(k, *def)) bad_schema(at, "field \"default\" is not a valid value of the knob's own type");
    k.default_value = *def;
    k.range = describe(k);
    const Binding* bound = nullptr;
    for (const Binding& b : bindings())
      if (k.key == b.key) bound = &b;
    if (!bound) bad_schema(at, "no PolicyConfig member is bound to this knob (add it to bindings() in engine/src/policy/config.cpp)");
    if (!member_fits_type(bound->member, k.type)) bad_schema(at, "its PolicyConfig member cannot hold a " + k.type);
    L.member.push_back(&bound->member);
    s.knobs.push_back(std::move(k));
  }
  for (const Binding& b : bindings())
    if (!find_knob(s, b.key)) bad_schema("", std::string("config.cpp binds \"") + b.key + "\", which the schema does not list");

  const JsonValue* stages = root.get("stages");
  if (!stages || !stages->is_array() || stages->arr.empty()) bad_schema("", "field \"stages\" must list the pipeline");
  for (size_t i = 0; i < stages->arr.size(); ++i) {
    const JsonValue& o = stages->arr[i];
    std::string at = "stages[" + std::to_string(i) + "]: ";
    const JsonValue *key = o.is_object() ? o.get("key") : nullptr, *section = o.is_object() ? o.get("section") : nullptr;
    if (!key || !key->is_string() || !section || !section->is_string()) bad_schema(at, "needs string fields \"key\" and \"section\"");
    at = "stages[" + std::to_string(i) + "] \"" + key->str + "\": ";
    StageSpec st;
    st.key = key->str;
    st.section = section->str;
    const size_t open = st.key.find('{');
    if (open != std::string::npos) {
      const KnobSpec* k = find_knob(s, st.key.substr(open + 1, st.key.size() - open - 2));
      if (st.key.back() != '}' || !k || k->type != "enum" || k->host) bad_schema(at, "{knob} must end the key and name an enum knob");
    }
    st.when = conditions(s, o.get("when"), at, "when");
    s.stages.push_back(std::move(st));
  }

  const JsonValue* rules = root.get("rules");
  if (!rules || !rules->is_array()) bad_schema("", "field \"rules\" must be a list");
  for (size_t i = 0; i < rules->arr.size(); ++i) {
    const JsonValue& o = rules->arr[i];
    const std::string at = "rules[" + std::to_string(i) + "]: ";
    const JsonValue* message = o.is_object() ? o.get("message") : nullptr;
    if (!message || !message->is_string()) bad_schema(at, "field \"message\" must be a string");
    RuleSpec r;
    r.message = message->str;
    r.when = conditions(s, o.get("when"), at, "when");
    if (o.get("require")) {
      r.has_require = true;
      r.require = conditions(s, o.get("require"), at, "require");
    }
    s.rules.push_back(std::move(r));
  }
  return L;
}

const Loaded& loaded() {
  static const Loaded L = load_schema();  // a throw leaves it unset: the next call throws again
  return L;
}

const Member& member_of(const std::string& key) {
  const Loaded& L = loaded();
  for (size_t i = 0; i < L.schema.knobs.size(); ++i)
    if (L.schema.knobs[i].key == key) return *L.member[i];
  throw EngineError("config: no knob \"" + key + "\"");
}

bool holds_all(const std::vector<KnobCondition>& conds, const PolicyConfig& c) {
  for (const KnobCondition& k : conds)
    if (!holds(k, read_member(c, member_of(k.key)))) return false;
  return true;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& k : v) s += (s.empty() ? "" : ", ") + k;
  return "[" + s + "]";
}

}  // namespace

const KnobSchema& knob_schema() { return loaded().schema; }

const char* knob_schema_source() { return kKnobsJsonText; }

std::vector<std::string> stage_keys(const StageSpec& s) {
  const size_t open = s.key.find('{');
  if (open == std::string::npos) return {s.key};
  const std::string knob = s.key.substr(open + 1, s.key.size() - open - 2);
  std::vector<std::string> out;
  for (const KnobSpec& k : knob_schema().knobs)
    if (k.key == knob)
      for (const auto& v : k.values) {
        bool allowed = true;  // the stage's own conditions on that knob (rope-{rope.scaling}: not none)
        for (const KnobCondition& c : s.when)
          if (c.key == knob && !holds(c, jstr(v))) allowed = false;
        if (allowed) out.push_back(s.key.substr(0, open) + v);
      }
  return out;
}

std::string knob_schema_json() {
  const KnobSchema& s = knob_schema();
  PolicyConfig defaults;
  const Loaded& L = loaded();
  for (size_t i = 0; i < s.knobs.size(); ++i) write_member(defaults, *L.member[i], s.knobs[i].default_value);
  JsonValue root = jobj();
  put(root, "source", jstr(kKnobsJsonText));
  JsonValue knobs = jarr();
  for (size_t i = 0; i < s.knobs.size(); ++i) {
    const KnobSpec& k = s.knobs[i];
    JsonValue o = jobj();
    put(o, "key", jstr(k.key));
    put(o, "type", jstr(k.type));
    if (k.type == "int" || k.type == "number") {
      put(o, "min", jnum(k.min));
      if (k.has_max) put(o, "max", jnum(k.max));
      if (k.odd) put(o, "odd", jbool(true));
      if (k.min_exclusive) put(o, "minExclusive", jbool(true));
      if (k.max_exclusive) put(o, "maxExclusive", jbool(true));
    }
    if (k.type == "enum" || k.type == "calib-rules") {
      JsonValue v = jarr();
      for (const auto& x : k.values) v.arr.push_back(jstr(x));
      put(o, k.type == "enum" ? "values" : "regions", v);
    }
    put(o, "range", jstr(k.range));
    put(o, "host", jbool(k.host));
    // What the engine holds after applying the default: the member read back.
    put(o, "default", read_member(defaults, *L.member[i]));
    knobs.arr.push_back(std::move(o));
  }
  put(root, "knobs", knobs);
  JsonValue stages = jarr();
  for (const StageSpec& st : s.stages) {
    JsonValue o = jobj();
    put(o, "key", jstr(st.key));
    put(o, "section", jstr(st.section));
    JsonValue keys = jarr();
    for (const auto& k : stage_keys(st)) keys.arr.push_back(jstr(k));
    put(o, "keys", keys);
    stages.arr.push_back(std::move(o));
  }
  put(root, "stages", stages);
  std::ostringstream out;
  write_json(out, root);
  return out.str();
}

std::vector<std::string> derive_pipeline(const PolicyConfig& c) {
  std::vector<std::string> keys;
  for (const StageSpec& st : knob_schema().stages) {
    if (!holds_all(st.when, c)) continue;
    const size_t open = st.key.find('{');
    keys.push_back(open == std::string::npos
                       ? st.key
                       : st.key.substr(0, open) + read_member(c, member_of(st.key.substr(open + 1, st.key.size() - open - 2))).str);
  }
  return keys;
}

PolicyConfig parse_policy_config(const char* json) {
  const Loaded& L = loaded();
  const KnobSchema& s = L.schema;
  if (!json) fail("no config given");
  JsonValue root;
  try {
    root = json_parse(json, std::strlen(json));
  } catch (const JsonError& e) {
    fail(std::string("not valid JSON (") + e.what() + ")");
  }
  if (!root.is_object()) fail("must be a JSON object of knob: value");
  PolicyConfig c;
  for (size_t i = 0; i < s.knobs.size(); ++i) write_member(c, *L.member[i], s.knobs[i].default_value);
  for (const auto& [key, value] : root.obj) {
    if (key == "preset") {
      if (!value.is_string()) fail("key \"preset\" must be a string, got " + show(value));
      c.preset = value.str;
      continue;
    }
    if (key == "retrieval") {
      if (value.kind != JsonValue::Bool) fail("key \"retrieval\" must be true|false, got " + show(value));
      c.retrieval = value.b;
      continue;
    }
    if (key == "pipeline") {
      if (!value.is_array()) fail("key \"pipeline\" must be a list of policy registry keys, got " + show(value));
      c.pipeline.clear();
      for (const auto& k : value.arr) {
        if (!k.is_string()) fail("key \"pipeline\" must be a list of policy registry keys, got " + show(k) + " in it");
        c.pipeline.push_back(k.str);
      }
      c.pipeline_given = true;
      continue;
    }
    size_t i = 0;
    while (i < s.knobs.size() && s.knobs[i].key != key) ++i;
    if (i == s.knobs.size()) {
      std::string keys;
      for (const KnobSpec& k : s.knobs)
        if (!k.host) keys += (keys.empty() ? "" : ", ") + k.key;
      fail("unknown key \"" + key + "\" (valid keys: preset, pipeline, retrieval, " + keys + ")");
    }
    const KnobSpec& k = s.knobs[i];
    if (k.host)
      fail("key \"" + key + "\" is a host knob: the runner applies it before the engine (it cuts the chunks), so it must not be sent");
    if (!value_fits(k, value)) fail("key \"" + key + "\" must be " + k.range + ", got " + show(value));
    write_member(c, *L.member[i], value);
  }
  for (const RuleSpec& r : s.rules)
    if (holds_all(r.when, c) && (!r.has_require || !holds_all(r.require, c))) fail(r.message);
  const auto derived = derive_pipeline(c);
  if (c.pipeline_given && c.pipeline != derived)
    fail("key \"pipeline\" is " + joined(c.pipeline) + " but the knobs enable " + joined(derived));
  c.pipeline = derived;
  return c;
}

std::string policy_config_json(const PolicyConfig& c) {
  const Loaded& L = loaded();
  JsonValue root = jobj();
  put(root, "preset", jstr(c.preset));
  put(root, "retrieval", jbool(c.retrieval));
  JsonValue pipeline = jarr();
  for (const auto& k : c.pipeline) pipeline.arr.push_back(jstr(k));
  put(root, "pipeline", pipeline);
  for (size_t i = 0; i < L.schema.knobs.size(); ++i)
    if (!L.schema.knobs[i].host) put(root, L.schema.knobs[i].key, read_member(c, *L.member[i]));
  std::ostringstream out;
  write_json(out, root);
  return out.str();
}

}  // namespace pcomp
