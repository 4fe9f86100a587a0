// Policy units without a model: config validation (every error names its key), the pipeline keys a
// config derives, the registry, pooling and its tie rules, calibration region edges, chunk scores.
#include <cstring>
#include <string>

#include "error.h"
#include "harness.h"
#include "pcomp.h"
#include "policy/config.h"
#include "policy/registry.h"
#include "policy/run.h"
#include "backend/backend.h"
#include "forward.h"
#include "kv_cache.h"
#include <cmath>

using namespace pcomp;

namespace {
std::string config_error(const char* json) {
  try {
    parse_policy_config(json);
  } catch (const EngineError& e) {
    return e.what();
  }
  return "";
}
bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }
}  // namespace

TEST(config_defaults_are_full_attention) {
  PolicyConfig c = parse_policy_config("{}");
  CHECK(!c.chunk_enabled && !c.chunk_evict && !c.kv_evict && !c.calib);
  CHECK(c.pipeline == std::vector<std::string>{"full-prefill"});
  CHECK(c.calib_rules.size() == 3 && c.calib_rules[2].region == "sink" && c.calib_rules[2].from == 25);
}

TEST(config_errors_name_the_key) {
  CHECK(has(config_error("{\"chunk.bugdet\": 3}"), "unknown key \"chunk.bugdet\""));
  CHECK(has(config_error("{\"kvEvict.kernel\": 4}"), "\"kvEvict.kernel\" must be int >= 1, odd, got 4"));
  CHECK(has(config_error("{\"calib.threshold\": 1}"), "\"calib.threshold\""));
  CHECK(has(config_error("{\"chunkEvict.score\": \"sum\"}"), "\"chunkEvict.score\" must be mean-nll|reference-sum"));
  CHECK(has(config_error("{\"calib.rules\": [{\"region\": \"edge\", \"from\": 1, \"to\": 2}]}"), "\"calib.rules\""));
  CHECK(has(config_error("{\"chunk.enabled\": \"yes\"}"), "\"chunk.enabled\" must be true|false"));
  CHECK(has(config_error("{\"kvEvict.enabled\": true}"), "kvEvict.enabled=true needs chunk.enabled=true"));
  CHECK(has(config_error("{\"rope.factor\": 0.5}"), "rope.factor must be 0 (auto) or >= 1"));
  CHECK(has(config_error("[1]"), "must be a JSON object"));
  CHECK(has(config_error("{\"chunk.enabled\": tru}"), "not valid JSON"));
}

TEST(config_pipeline_is_derived_and_checked) {
  PolicyConfig c = parse_policy_config(
      "{\"chunk.enabled\": true, \"chunkEvict.enabled\": true, \"kvEvict.enabled\": true, \"calib.enabled\": true,"
      " \"rope.scaling\": \"ntk\"}");
  const std::vector<std::string> want = {"rope-ntk", "chunk-prefill", "chunk-evict-selfinfo", "kv-evict-cumattn",
                                         "attn-calib-bias", "global-reencode"};
  CHECK(c.pipeline == want);
  for (const auto& k : want) CHECK(std::string(find_stage(k).key) == k);
  CHECK(has(config_error("{\"pipeline\": [\"chunk-prefill\", \"global-reencode\"]}"),
            "\"pipeline\" is [chunk-prefill, global-reencode] but the knobs enable [full-prefill]"));
  CHECK(parse_policy_config("{\"snapkv.enabled\": true, \"pipeline\": [\"full-prefill\", \"cache-snapkv\"]}").snapkv);
  bool threw = false;
  try { find_stage("kv-evict-h2o"); } catch (const EngineError& e) { threw = has(e.what(), "\"kv-evict-h2o\""); }
  CHECK(threw);
}

TEST(config_schema_loads_and_member_initializers_are_its_defaults) {
  const KnobSchema& s = knob_schema();  // throws when engine/knobs.json and the member bindings disagree
  CHECK(s.knobs.size() > 40 && !s.stages.empty() && !s.rules.empty());
  // Code that builds a PolicyConfig by hand gets the schema's defaults too.
  PolicyConfig by_hand;
  by_hand.pipeline = derive_pipeline(by_hand);
  CHECK(policy_config_json(by_hand) == policy_config_json(parse_policy_config("{}")));
  CHECK(by_hand.chunk_parallel == 8);
  // The host-only members are not in policy_config_json: their initializers against the schema.
  for (const KnobSpec& k : s.knobs) {
    if (!k.host) continue;
    if (k.key == "chunk.split") CHECK(k.default_value.str == by_hand.chunk_split);
    else if (k.key == "chunk.budget") CHECK(k.default_value.num == by_hand.chunk_budget);
    else if (k.key == "chunk.count") CHECK(k.default_value.num == by_hand.chunk_count);
    else CHECK(!"a host knob this test does not know");
  }
}

TEST(config_every_schema_stage_and_method_value_is_registered) {
  for (const StageSpec& st : knob_schema().stages)
    for (const std::string& key : stage_keys(st)) {
      bool ok = true;
      try { find_stage(key); } catch (const EngineError&) { ok = false; }
      if (!ok) std::fprintf(stderr, "  stage %s: no registry entry\n", key.c_str());
      CHECK(ok);
    }
  // The knob-valued sub-methods: every value the schema allows has its function.
  for (const KnobSpec& k : knob_schema().knobs) {
    for (const std::string& v : k.values) {
      bool ok = true;
      try {
        if (k.key == "chunkEvict.score") find_chunk_scorer(v);
        else if (k.key == "kvEvict.pooling" || k.key == "snapkv.pooling") find_pooling(v);
        else if (k.key == "calib.rules") find_region(v);
      } catch (const EngineError&) { ok = false; }
      if (!ok) std::fprintf(stderr, "  %s=%s: no registry entry\n", k.key.c_str(), v.c_str());
      CHECK(ok);
    }
  }
}

TEST(config_host_knobs_are_refused_and_resolve_reports_the_engine_view) {
  CHECK(has(config_error("{\"chunk.budget\": 100}"), "key \"chunk.budget\" is a host knob"));
  CHECK(has(config_error("{\"chunk.split\": \"chars\"}"), "key \"chunk.split\" is a host knob"));
  CHECK(has(config_error("{\"chunk.count\": 2}"), "key \"chunk.count\" is a host knob"));
  const char* out = pcomp_config_resolve("{\"chunk.enabled\": true, \"calib.threshold\": 0.3, \"preset\": \"p\"}");
  CHECK(out != nullptr);
  const std::string r = out ? out : "";
  CHECK(has(r, "\"calib.threshold\":0.3,") && has(r, "\"preset\":\"p\"") && has(r, "\"chunk.parallel\":8"));
  CHECK(has(r, "\"pipeline\":[\"chunk-prefill\",\"global-reencode\"]") && !has(r, "chunk.budget"));
  CHECK(pcomp_config_resolve("{\"kvEvict.kernel\": 4}") == nullptr);
  CHECK(has(pcomp_last_error(), "\"kvEvict.kernel\" must be int >= 1, odd, got 4"));
  const char* schema = pcomp_knob_schema();
  CHECK(schema && has(schema, "\"source\":") && has(schema, "\"range\":\"number > 0, < 1\""));
}

TEST(pooling_matches_torch_padding_rules) {
  const std::vector<double> raw = {1, 5, 2, 0, 0, 3};
  const auto mx = pool_max(raw, 3);
  const std::vector<double> want_max = {5, 5, 5, 2, 3, 3};
  CHECK(mx == want_max);
  const auto av = pool_avg(raw, 3);  // zero padding counted: edges divide by 3 too
  CHECK_NEAR(av[0], 6.0 / 3, 1e-12);
  CHECK_NEAR(av[5], 3.0 / 3, 1e-12);
  CHECK(pool_max(raw, 1) == raw);
}

TEST(calibration_regions_half_open_and_strict) {
  // span of n = 10 keys, sink 3, recent 3
  CHECK(region_sink(2, 10, 3, 3, false) && !region_sink(3, 10, 3, 3, false));
  CHECK(region_recent(7, 10, 3, 3, false) && !region_recent(7, 10, 3, 3, true) && region_recent(8, 10, 3, 3, true));
  CHECK(region_middle(3, 10, 3, 3, false) && !region_middle(3, 10, 3, 3, true) && region_middle(4, 10, 3, 3, true));
  CHECK(!region_middle(7, 10, 3, 3, false) && region_all(0, 10, 3, 3, true));
}

TEST(chunk_scores_mean_and_reference_sum) {
  const std::vector<double> nll = {1, 2, 3, 6};
  CHECK_NEAR(chunk_score(nll, "mean-nll", 0), 3.0, 1e-12);
  CHECK_NEAR(chunk_score(nll, "reference-sum", 0), 4.0, 1e-12);
  CHECK_NEAR(chunk_score(nll, "mean-nll", 2), 4.5, 1e-12);
  bool threw = false;
  try { chunk_score({1.0}, "reference-sum", 0); } catch (const EngineError&) { threw = true; }
  CHECK(threw);
}

TEST(streaming_rerotation_moves_keys_to_the_lower_position) {
  ModelConfig mc;
  mc.n_layers = 1;
  mc.n_kv_heads = 1;
  mc.n_heads = 1;
  mc.head_dim = 8;
  mc.rope_theta = 10000.0;
  KVCache cache(mc);
  const int seq = cache.new_seq();
  const Backend& be = cpu_backend();
  RopeParams rope = RopeParams::from_config(mc);
  std::vector<float> inv(4);
  rope_inv_freq(rope, 8, 0, inv.data());
  const int n = 6;
  std::vector<float> raw(n * 8), k, v(n * 8, 0.f);
  for (int i = 0; i < n * 8; ++i) raw[i] = std::sin(0.37 * i + 1.0);
  std::vector<int32_t> pos = {0, 1, 7, 8, 9, 10};
  k = raw;
  be.rope(k.data(), pos.data(), inv.data(), n, 1, 8);
  cache.append(seq, 0, k.data(), v.data(), pos.data(), n);
  rerotate_keys(be, rope, cache.head(seq, 0, 0), 8, 2, -1);
  std::vector<int32_t> lower = {0, 1, 6, 7, 8, 9};
  std::vector<float> want = raw;
  be.rope(want.data(), lower.data(), inv.data(), n, 1, 8);
  const KVHead& h = cache.head(seq, 0, 0);
  for (int i = 0; i < n * 8; ++i) CHECK_NEAR(h.k[i], want[i], 1e-5);
  CHECK(h.pos == lower);
}
