// Policy units without a model: config validation (every error names its key), the pipeline keys a
// config derives, the registry, pooling and its tie rules, calibration region edges, chunk scores.
#include <cstring>
#include <string>

#include "error.h"
#include "harness.h"
#include "policy/config.h"
#include "policy/registry.h"
#include "policy/run.h"
#include "backend/backend.h"
#include "forward.h"
#include "kv_cache.h"
#include "test_util.h"
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
  const Backend& be = cpu_backend();
  KVCache cache(mc, be);
  const int seq = cache.new_seq();
  t::Wrap w;
  RopeParams rope = RopeParams::from_config(mc);
  std::vector<float> inv(4);
  rope_inv_freq(rope, 8, 0, inv.data());
  const int n = 6;
  std::vector<float> raw(n * 8), k, v(n * 8, 0.f);
  for (int i = 0; i < n * 8; ++i) raw[i] = std::sin(0.37 * i + 1.0);
  std::vector<int32_t> pos = {0, 1, 7, 8, 9, 10};
  k = raw;
  be.rope(w(k.data()), w(pos.data()), w(inv.data()), n, 1, 8);
  cache.append(seq, 0, w(k.data()), w(v.data()), 1, pos.data(), n);
  rerotate_keys(be, rope, cache, seq, 0, 0, 2, -1);
  std::vector<int32_t> lower = {0, 1, 6, 7, 8, 9};
  std::vector<float> want = raw;
  be.rope(w(want.data()), w(lower.data()), w(inv.data()), n, 1, 8);
  const KVHead& h = cache.head(seq, 0, 0);
  std::vector<float> got(n * 8);
  be.download(got.data(), h.k, 0, got.size() * sizeof(float));  // the cache's rows cross explicitly
  for (int i = 0; i < n * 8; ++i) CHECK_NEAR(got[i], want[i], 1e-5);
  CHECK(h.pos == lower);
}
