// Device selection through the C API (pcomp_model_load_ex) and pcomp_run on a cuda model against the
// same run on the CPU (the one pipeline on either backend; test/engine/cuda-matrix.test.ts runs every
// preset the same way). The load tests run everywhere (without a GPU, "auto" must pick the CPU and
// "cuda" must fail with the reason); the end-to-end comparisons SKIP without a GPU and are part of
// scripts/gpu-check.sh (filter cuda_).
//
// Tolerances of the end-to-end comparison (the GPU keeps K/V and the tensor cores' inputs in bf16;
// the CPU model is loaded with bf16 matrices too, so only activations differ):
//   chunk scores (mean question NLL)    |gpu - cpu| <= 2e-2 * max(1, |cpu|), as test_cuda_ops.cpp
//   kept chunks                         equal, unless the k-th and (k+1)-th CPU scores are within
//                                       4e-2 of each other (then only the count is compared)
//   re-encoded question NLL             mean |gpu - cpu| <= 0.05 nats when the kept chunks agree
//   eval NLL (perplexity)               the same without eviction; with KV eviction 5% of the mean
//                                       NLL: random eval tokens score 10-20 nats on the tiny model,
//                                       and with KV eviction the CPU alone moves them by 2.8% on
//                                       average when its weights are bf16 instead of f32 (0.1% without)
//   greedy tokens                       equal when the kept chunks agree and the CPU's first-step
//                                       top-2 logit margin exceeds 0.5 (a near-tie may flip the
//                                       first token); without eviction the whole sequence, with KV
//                                       eviction or calibration (per-head selections that the
//                                       GPU's rounding may change at the edges) the first token.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../../engine/include/pcomp.h"
#include "sample_util.h"
#include "harness.h"
#include "json.h"

using namespace pcomp;

namespace {

std::string repo_root() {
  std::string root = __FILE__;
  for (int up = 0; up < 3; ++up) root = root.substr(0, root.find_last_of('/'));
  return root;
}
std::string tiny_dir() { return repo_root() + "/models/tiny"; }
// stories260K beside the repository (../shared) or under $PCOMP_SHARED_DIR; "" when absent.
std::string stories_dir() {
  const char* shared = std::getenv("PCOMP_SHARED_DIR");
  const std::string dir = (shared && *shared ? std::string(shared) : repo_root() + "/../shared") + "/models/stories260K/hf";
  FILE* f = std::fopen((dir + "/config.json").c_str(), "r");
  if (!f) return "";
  std::fclose(f);
  return dir;
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

JsonValue parse(const std::string& s) { return json_parse(s.c_str(), s.size()); }

JsonValue build_info() { return parse(pcomp_build_info()); }
bool gpu_usable() {
  const JsonValue info = build_info();
  const JsonValue* v = info.get("cuda_available");
  return v && v->b;
}
std::string cuda_reason() {
  const JsonValue info = build_info();
  const JsonValue* v = info.get("cuda_reason");
  return v ? v->str : "";
}

struct Loaded {
  pcomp_model* m = nullptr;
  pcomp_status st = PCOMP_ERR_INTERNAL;
  std::string error;
  Loaded(const std::string& dir, const char* options) {
    st = pcomp_model_load_ex(dir.c_str(), options, &m);
    error = pcomp_last_error();
  }
  ~Loaded() { if (m) pcomp_model_free(m); }
  std::string device() const {
    if (!m) return "";
    const JsonValue info = parse(pcomp_model_info(m));
    const JsonValue* d = info.get("device");
    return d ? d->str : "";
  }
};

}  // namespace

TEST(cuda_capi_load_options_are_checked) {
  for (const char* bad : {"{\"device\":\"gpu\"}", "{\"device\":1}", "{\"devices\":\"cpu\"}", "[1]", "{oops"}) {
    Loaded l(tiny_dir(), bad);
    CHECK(l.st == PCOMP_ERR_INPUT && l.m == nullptr);
    CHECK(has(l.error, "load options"));
  }
  Loaded unknown(tiny_dir(), "{\"devices\":\"cpu\"}");
  CHECK(has(unknown.error, "unknown key \"devices\""));
}

TEST(cuda_capi_cpu_and_auto_report_the_device) {
  Loaded cpu(tiny_dir(), "{\"device\":\"cpu\"}");
  CHECK(cpu.st == PCOMP_OK);
  CHECK(cpu.device() == "cpu");
  Loaded dflt(tiny_dir(), nullptr);
  CHECK(dflt.st == PCOMP_OK && dflt.device() == "cpu");
  pcomp_model* plain = nullptr;
  CHECK(pcomp_model_load(tiny_dir().c_str(), &plain) == PCOMP_OK);
  CHECK(plain && has(pcomp_model_info(plain), "\"device\":\"cpu\""));
  pcomp_model_free(plain);
  // auto: the GPU exactly when the build has CUDA and a usable GPU is present.
  Loaded aut(tiny_dir(), "{\"device\":\"auto\"}");
  CHECK(aut.st == PCOMP_OK);
  CHECK(aut.device() == (gpu_usable() ? "cuda" : "cpu"));
}

TEST(cuda_capi_cuda_without_a_gpu_fails_with_the_reason) {
  if (gpu_usable()) SKIP("a GPU is usable here; cuda_capi_run_* cover the device");
  Loaded l(tiny_dir(), "{\"device\":\"cuda\"}");
  CHECK(l.st == PCOMP_ERR_INPUT && l.m == nullptr);
  CHECK(has(l.error, "device cuda is not available"));
  CHECK(!cuda_reason().empty() && has(l.error, cuda_reason()));
}

TEST(cuda_capi_config_check_without_running) {
  Loaded cpu(tiny_dir(), "{\"device\":\"cpu\"}");
  CHECK(cpu.st == PCOMP_OK);
  if (!cpu.m) return;
  // The CPU runs every preset shape, the RoPE baselines included.
  CHECK(pcomp_config_check(cpu.m, R"({"rope.scaling":"ntk"})") == PCOMP_OK);
  CHECK(pcomp_config_check(cpu.m, R"({"chunk.enabled":true,"kvEvict.enabled":true,"kvEvict.gqa":"expanded-heads"})") == PCOMP_OK);
  CHECK(pcomp_config_check(cpu.m, R"({"chunk.enbled":true})") == PCOMP_ERR_INPUT);
  CHECK(has(pcomp_last_error(), "unknown key \"chunk.enbled\""));
  CHECK(pcomp_config_check(cpu.m, R"({"chunk.enabled":true,"calib.enabled":true,"calib.rules":[{"region":"all","from":9,"to":9}]})") ==
        PCOMP_ERR_INPUT);
  CHECK(has(pcomp_last_error(), "starts past the model's 4 layers"));
}

// ---- on the GPU ---------------------------------------------------------------------------------

namespace {

struct RunOut {
  pcomp_status st = PCOMP_ERR_INTERNAL;
  std::string error, trace_json;
  std::vector<int32_t> tokens;
  std::vector<float> nll;
  JsonValue trace;
};

RunOut run(pcomp_model* m, const t::SeededSample& smp, const char* config) {
  RunOut o;
  pcomp_session* s = nullptr;
  if (pcomp_session_new(m, &s) != PCOMP_OK) { o.error = pcomp_last_error(); return o; }
  pcomp_result* r = nullptr;
  o.st = pcomp_run(s, &smp.s, config, nullptr, nullptr, &r);
  o.error = pcomp_last_error();
  if (o.st == PCOMP_OK) {
    int n = 0;
    const int32_t* t = pcomp_result_tokens(r, &n);
    o.tokens.assign(t, t + n);
    const float* l = pcomp_result_nll(r, &n);
    o.nll.assign(l, l + n);
    o.trace_json = pcomp_result_trace(r);
    o.trace = parse(o.trace_json);
  }
  pcomp_result_free(r);
  pcomp_session_free(s);
  return o;
}

std::vector<double> nums(const JsonValue& t, const char* key) {
  std::vector<double> v;
  const JsonValue* a = t.get(key);
  if (a && a->is_array())
    for (const auto& x : a->arr) v.push_back(x.kind == JsonValue::Null ? NAN : x.num);
  return v;
}

double mean_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  int n = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    if (std::isfinite(a[i]) && std::isfinite(b[i])) { s += std::fabs(a[i] - b[i]); ++n; }
  return n ? s / n : 0;
}

std::string show(const std::vector<int32_t>& v) {
  std::string s;
  for (int32_t x : v) s += (s.empty() ? "" : " ") + std::to_string(x);
  return s;
}

struct Config { const char* name; const char* json; int keep; bool evicts; };

void compare_on(const std::string& dir, const std::string& label) {
  // The CPU run holds the same bf16 matrices as the device.
  const char* before = std::getenv("PCOMP_WEIGHTS");
  const std::string saved = before ? before : "";
  setenv("PCOMP_WEIGHTS", "bf16", 1);
  Loaded cpu(dir, "{\"device\":\"cpu\"}");
  if (before) setenv("PCOMP_WEIGHTS", saved.c_str(), 1);
  else unsetenv("PCOMP_WEIGHTS");
  Loaded gpu(dir, "{\"device\":\"cuda\"}");
  CHECK(cpu.st == PCOMP_OK && gpu.st == PCOMP_OK);
  if (cpu.st != PCOMP_OK || gpu.st != PCOMP_OK) {
    std::fprintf(stderr, "  %s: load failed: %s / %s\n", label.c_str(), cpu.error.c_str(), gpu.error.c_str());
    return;
  }
  CHECK(gpu.device() == "cuda");
  const JsonValue info = parse(pcomp_model_info(gpu.m));
  const int vocab = int(info.get("vocab_size")->num), bos = int(info.get("bos_token_id")->num);
  const Config configs[] = {
      {"parallelcomp", R"({"chunk.enabled":true,"chunkEvict.enabled":true,"chunkEvict.k":2,"chunk.parallel":2})", 2, false},
      {"parallelcomp-kv", R"({"chunk.enabled":true,"chunkEvict.enabled":true,"chunkEvict.k":2,"chunk.parallel":2,
        "kvEvict.enabled":true,"kvEvict.capacity":40})", 2, true},
      {"parallelcomp-calib", R"({"chunk.enabled":true,"chunkEvict.enabled":true,"chunkEvict.k":2,"calib.enabled":true,
        "calib.rules":[{"region":"middle","from":1,"to":2},{"region":"recent","from":3,"to":4}],"calib.sinkSize":8,
        "calib.recentSize":8,"calib.threshold":0.05})", 2, true},
      {"parallelcomp-calib-kv", R"({"chunk.enabled":true,"chunkEvict.enabled":true,"chunkEvict.k":2,"calib.enabled":true,
        "calib.rules":[{"region":"middle","from":1,"to":4}],"calib.sinkSize":8,"calib.recentSize":8,"calib.threshold":0.05,
        "kvEvict.enabled":true,"kvEvict.capacity":40})", 2, true},
      {"full", "{}", 1, false},
      // The baselines run on the device too (one engine): RoPE scaling, StreamingLLM, SnapKV, the
      // reference code's expanded heads.
      {"ntk", R"({"rope.scaling":"ntk"})", 1, false},
      {"dynamic-ntk", R"({"rope.scaling":"dynamic-ntk"})", 1, false},
      {"streaming", R"({"streaming.enabled":true,"streaming.window":100})", 1, true},
      {"snapkv", R"({"snapkv.enabled":true,"snapkv.capacity":64})", 1, true},
      {"parallelcomp-kv-expanded", R"({"chunk.enabled":true,"chunkEvict.enabled":true,"chunkEvict.k":2,"chunk.parallel":2,
        "kvEvict.enabled":true,"kvEvict.capacity":40,"kvEvict.gqa":"expanded-heads"})", 2, true},
  };
  for (const Config& c : configs) {
    const std::string what = label + " " + c.name;
    for (int eval_len : {0, 24}) {  // generation, then perplexity (eval tokens scored, no generation)
      t::SeededSample smp({120, 90, 150, 70, 110}, 12, eval_len, vocab, bos, 17, eval_len ? 0 : 8);
      const RunOut a = run(cpu.m, smp, c.json), b = run(gpu.m, smp, c.json);
      CHECK(a.st == PCOMP_OK && b.st == PCOMP_OK);
      if (a.st != PCOMP_OK || b.st != PCOMP_OK) {
        std::fprintf(stderr, "  %s: run failed: cpu \"%s\", gpu \"%s\"\n", what.c_str(), a.error.c_str(), b.error.c_str());
        continue;
      }
      CHECK(b.trace.get("peakCacheBytes") && b.trace.get("peakCacheBytes")->num > 0);
      CHECK(nums(b.trace, "generatedPositions").size() == b.tokens.size());
      const std::vector<double> sa = nums(a.trace, "chunkScores"), sb = nums(b.trace, "chunkScores");
      CHECK(sa.size() == sb.size());
      for (size_t i = 0; i < sa.size() && i < sb.size(); ++i) CHECK_NEAR(sb[i], sa[i], 2e-2 * std::max(1.0, std::fabs(sa[i])));
      const std::vector<double> ka = nums(a.trace, "keptChunks"), kb = nums(b.trace, "keptChunks");
      bool same_kept = ka == kb;
      if (!same_kept) {
        std::vector<double> sorted = sa;
        std::sort(sorted.begin(), sorted.end());
        const size_t k = size_t(c.keep);
        const bool close = k < sorted.size() && sorted[k] - sorted[k - 1] <= 4e-2 * std::max(1.0, std::fabs(sorted[k - 1]));
        if (!close) { ++t::failures(); std::fprintf(stderr, "  %s: kept chunks differ\n", what.c_str()); }
        CHECK(ka.size() == kb.size());
      }
      if (!same_kept) continue;
      CHECK(nums(a.trace, "questionStart") == nums(b.trace, "questionStart"));
      if (std::string(c.name) != "full") {
        const double d = mean_abs_diff(nums(a.trace, "questionNll"), nums(b.trace, "questionNll"));
        if (d > 0.05) { ++t::failures(); std::fprintf(stderr, "  %s: question NLL differs by %.4f on average\n", what.c_str(), d); }
      }
      if (eval_len) {
        CHECK(a.nll.size() == size_t(eval_len) && b.nll.size() == size_t(eval_len));
        const std::vector<double> na(a.nll.begin(), a.nll.end()), nb(b.nll.begin(), b.nll.end());
        const double d = mean_abs_diff(na, nb), tol = c.evicts ? 0.05 * mean_abs_diff(na, std::vector<double>(na.size(), 0.0)) : 0.05;
        if (d > tol) { ++t::failures(); std::fprintf(stderr, "  %s: eval NLL differs by %.4f on average (> %.4f)\n", what.c_str(), d, tol); }
        CHECK(nums(a.trace, "evalPositions") == nums(b.trace, "evalPositions"));
        continue;
      }
      const JsonValue* top = a.trace.get("finalTopLogits");
      const double margin = top && top->arr.size() > 1 ? top->arr[0].arr[1].num - top->arr[1].arr[1].num : 0;
      if (margin <= 0.5) {
        std::printf("    %s: first-step margin %.3f, tokens not compared (cpu %s | gpu %s)\n", what.c_str(), margin,
                    show(a.tokens).c_str(), show(b.tokens).c_str());
        continue;
      }
      const bool ok = c.evicts ? (!a.tokens.empty() && !b.tokens.empty() && a.tokens[0] == b.tokens[0]) || a.tokens == b.tokens
                               : a.tokens == b.tokens;
      if (!ok) {
        ++t::failures();
        std::fprintf(stderr, "  %s: greedy tokens differ: cpu %s | gpu %s\n", what.c_str(), show(a.tokens).c_str(),
                     show(b.tokens).c_str());
      }
    }
  }
}

}  // namespace

TEST(cuda_capi_run_matches_cpu) {
  if (!gpu_usable()) SKIP("no GPU: " + cuda_reason());
  compare_on(tiny_dir(), "tiny");
  const std::string stories = stories_dir();
  if (stories.empty()) {
    std::printf("    stories260K not found beside the repository (or $PCOMP_SHARED_DIR): compared on models/tiny only\n");
    return;
  }
  compare_on(stories, "stories260K");
}

TEST(cuda_capi_accepts_every_knob_and_call_on_a_gpu) {
  if (!gpu_usable()) SKIP("no GPU: " + cuda_reason());
  Loaded gpu(tiny_dir(), "{\"device\":\"cuda\"}");
  CHECK(gpu.st == PCOMP_OK);
  if (!gpu.m) return;
  const JsonValue info = parse(pcomp_model_info(gpu.m));
  CHECK(info.get("backend") && info.get("backend")->str == "cuda");
  CHECK(pcomp_config_check(gpu.m, R"({"chunk.enabled":true,"rope.scaling":"ntk"})") == PCOMP_OK);
  CHECK(pcomp_config_check(gpu.m, R"({"chunk.enabled":true,"kvEvict.enabled":true,"kvEvict.gqa":"expanded-heads"})") == PCOMP_OK);
  CHECK(pcomp_config_check(gpu.m, R"({"streaming.enabled":true})") == PCOMP_OK);
  t::SeededSample smp({60, 60}, 6, 0, 640, 1, 3, 4);
  const RunOut r = run(gpu.m, smp, R"({"chunk.enabled":true,"rope.scaling":"ntk"})");
  CHECK(r.st == PCOMP_OK);
  // The session calls run on the device as well.
  pcomp_session* s = nullptr;
  CHECK(pcomp_session_new(gpu.m, &s) == PCOMP_OK);
  const int seq = pcomp_seq_new(s);
  const int32_t toks[3] = {1, 5, 6};
  const int32_t* tp[1] = {toks};
  const int n[1] = {3};
  std::vector<float> logits(size_t(info.get("vocab_size")->num));
  CHECK(pcomp_prefill(s, 1, &seq, tp, nullptr, n, PCOMP_LOGITS_LAST, logits.data()) == PCOMP_OK);
  pcomp_session_free(s);
}
