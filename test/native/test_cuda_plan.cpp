// The conversion behind pcomp_run on a cuda model (engine/src/cuda_plan.h), without a GPU: which
// PolicyConfig knob becomes which PipelineConfig field, which knob values are refused (with the knob
// named and --device cpu suggested), what the sample becomes, and the trace written from a result.
#include <cstring>
#include <string>
#include <vector>

#include "cuda_plan.h"
#include "error.h"
#include "harness.h"
#include "json.h"
#include "policy/config.h"
#include "sample_util.h"

using namespace pcomp;

namespace {

ModelConfig tiny_config() {
  ModelConfig c;
  c.n_layers = 4;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 32;
  c.vocab = 640;
  c.max_pos = 512;
  c.bos = 1;
  return c;
}

// Chunks of the given lengths, each starting with BOS (1) when `bos`, then seeded ids in [3, 603); stop id 2.
struct SampleData : t::SeededSample {
  SampleData(const std::vector<int>& lengths, int question_len, bool bos, uint32_t seed = 7)
      : t::SeededSample(lengths, question_len, 0, 603, bos ? 1 : -1, seed, 5) {
    stops = {2};
    finish();
  }
};

CudaPlan plan(const char* config_json, SampleData& d) {
  return plan_cuda_run(parse_policy_config(config_json), d.s, tiny_config());
}

std::string refusal(const char* config_json, SampleData& d) {
  try {
    plan(config_json, d);
  } catch (const EngineError& e) {
    return e.what();
  }
  return "";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

const char* kParallelComp = R"({"chunk.enabled":true,"chunkEvict.enabled":true})";

}  // namespace

TEST(cuda_plan_maps_parallelcomp_defaults) {
  SampleData d({100, 80, 120, 90, 60}, 9, true);
  const CudaPlan p = plan(kParallelComp, d);
  CHECK(p.cfg.parallelcomp);
  CHECK(p.cfg.keep_chunks == 3);           // chunkEvict.k
  CHECK(p.cfg.parallel_chunks == 8);       // chunk.parallel = 8 (engine/knobs.json): waves of at most 8
  CHECK(p.cfg.concat_drop_first == 1);     // global.bos = keep-first, chunks start with BOS
  CHECK(!p.cfg.kv_evict && !p.cfg.calib);
  CHECK(p.cfg.score_question);
  CHECK(p.cfg.max_new_tokens == 5);
  CHECK(p.cfg.stop_ids == std::vector<int32_t>{2});
  CHECK(p.sample.chunks.size() == 5 && p.sample.chunks[2] == d.chunks[2]);
  CHECK(p.sample.question == d.question);
  CHECK(p.sample.context.empty() && p.sample.eval_tokens.empty());
  CHECK(p.chunk_lengths == (std::vector<int>{100, 80, 120, 90, 60}));
  CHECK(p.chunk_starts == (std::vector<int>{0, 100, 180, 300, 390}));
}

TEST(cuda_plan_maps_chunk_knobs_retrieval_and_disabled_eviction) {
  SampleData d({50, 50, 50, 50}, 4, true);
  CHECK(plan(R"({"chunk.enabled":true,"chunkEvict.enabled":true,"chunkEvict.k":2,"chunk.parallel":3})", d).cfg.keep_chunks == 2);
  CHECK(plan(R"({"chunk.enabled":true,"chunkEvict.enabled":true,"chunk.parallel":3})", d).cfg.parallel_chunks == 3);
  CHECK(plan(R"({"chunk.enabled":true,"chunkEvict.enabled":true,"chunkEvict.kRetrieval":1,"retrieval":true})", d).cfg.keep_chunks == 1);
  // Without the chunk-evict stage every chunk survives, as on the CPU.
  CHECK(plan(R"({"chunk.enabled":true})", d).cfg.keep_chunks == 4);
}

TEST(cuda_plan_maps_kv_eviction_capacity_rules) {
  SampleData d({100, 30, 120}, 6, true);
  const CudaPlan a = plan(R"({"chunk.enabled":true,"chunkEvict.enabled":true,"kvEvict.enabled":true,
    "kvEvict.window":4,"kvEvict.kernel":5,"kvEvict.pooling":"avg","kvEvict.capacity":40})", d);
  CHECK(a.cfg.kv_evict);
  CHECK(a.cfg.kv_window == 4 && a.cfg.kv_kernel == 5 && !a.cfg.kv_max_pool);
  CHECK(a.cfg.kv_capacity == 40);
  CHECK(a.cfg.kv_keep_prefix == 1);  // BOS kept outside the capacity
  // capacity 0 = half the trained window (the CPU's rule, not the device's default of half a chunk)
  CHECK(plan(R"({"chunk.enabled":true,"kvEvict.enabled":true})", d).cfg.kv_capacity == 256);
  // sample-min: at most the shortest chunk
  CHECK(plan(R"({"chunk.enabled":true,"kvEvict.enabled":true,"kvEvict.capacityRule":"sample-min"})", d).cfg.kv_capacity == 30);
  CHECK(plan(R"({"chunk.enabled":true,"kvEvict.enabled":true,"kvEvict.pooling":"max"})", d).cfg.kv_max_pool);
}

TEST(cuda_plan_maps_calibration_rules_to_0_based_layers) {
  SampleData d({60, 60}, 5, true);
  const CudaPlan p = plan(R"({"chunk.enabled":true,"chunkEvict.enabled":true,"calib.enabled":true,
    "calib.rules":[{"region":"middle","from":1,"to":2},{"region":"sink","from":3,"to":8}],
    "calib.threshold":0.2,"calib.sinkSize":10,"calib.recentSize":12,"calib.queryRows":3,
    "calib.equalise":false,"calib.strictEdges":true,"calib.reencodeMask":"bottom-right"})", d);
  CHECK(p.cfg.calib);
  CHECK(p.cfg.calib_rules.size() == 2);
  if (p.cfg.calib_rules.size() == 2) {
    const auto& r0 = p.cfg.calib_rules[0];
    const auto& r1 = p.cfg.calib_rules[1];
    CHECK(r0.rule.region == cuda::CalibRegion::Middle && r0.first == 0 && r0.last == 1);
    CHECK(r1.rule.region == cuda::CalibRegion::Sink && r1.first == 2 && r1.last == 3);  // clipped to 4 layers
    CHECK_NEAR(r0.rule.threshold, 0.2, 1e-7);
    CHECK(r0.rule.sink == 10 && r0.rule.recent == 12 && r0.rule.strict && !r0.rule.equalise);
  }
  CHECK(p.cfg.calib_query_rows == 3);
  // A rule that starts past the model's layers is the CPU's error too.
  CHECK(has(refusal(R"({"chunk.enabled":true,"calib.enabled":true,"calib.rules":[{"region":"all","from":5,"to":6}]})", d),
            "starts past the model's 4 layers"));
}

TEST(cuda_plan_bos_handling_follows_the_chunks) {
  SampleData with({40, 40, 40}, 4, true), without({40, 40, 40}, 4, false);
  const char* kv = R"({"chunk.enabled":true,"chunkEvict.enabled":true,"kvEvict.enabled":true})";
  CHECK(plan(kv, with).cfg.kv_keep_prefix == 1 && plan(kv, with).cfg.concat_drop_first == 1);
  CHECK(plan(kv, without).cfg.kv_keep_prefix == 0 && plan(kv, without).cfg.concat_drop_first == 0);
  CHECK(plan(R"({"chunk.enabled":true,"global.bos":"drop-index0"})", without).cfg.concat_drop_first == 1);
  CHECK(plan(R"({"chunk.enabled":true,"global.bos":"keep-all"})", with).cfg.concat_drop_first == 0);
  // Chunk 0 alone without BOS does not matter to concatenation (it is never a later chunk) ...
  SampleData first_plain({40, 40, 40}, 4, true);
  first_plain.chunks[0][0] = 5;
  first_plain.finish();
  CHECK(plan(kParallelComp, first_plain).cfg.concat_drop_first == 1);
  // ... but does to KV eviction, which keeps the same leading rows of every chunk.
  const std::string e = refusal(kv, first_plain);
  CHECK(has(e, "kvEvict.bos=always-keep") && has(e, "2 of 3 chunks start with BOS") && has(e, "use --device cpu"));
  SampleData mixed({40, 40, 40}, 4, true);
  mixed.chunks[2][0] = 5;
  mixed.finish();
  CHECK(has(refusal(kParallelComp, mixed), "global.bos=keep-first"));
}

TEST(cuda_plan_refuses_knobs_the_device_lacks_naming_them) {
  SampleData d({60, 70, 80}, 5, true);
  struct Case { const char* config; const char* knob; };
  const Case cases[] = {
      {R"({"rope.scaling":"ntk"})", "rope.scaling=ntk"},
      {R"({"chunk.enabled":true,"rope.scaling":"linear","rope.factor":2})", "rope.scaling=linear"},
      {R"({"streaming.enabled":true})", "streaming.enabled=true"},
      {R"({"snapkv.enabled":true})", "snapkv.enabled=true"},
      {R"({"chunk.enabled":true,"chunkEvict.enabled":true,"chunkEvict.score":"reference-sum"})", "chunkEvict.score=reference-sum"},
      {R"({"chunk.enabled":true,"chunkEvict.enabled":true,"chunkEvict.scoreTokens":4})", "chunkEvict.scoreTokens=4"},
      {R"({"chunk.enabled":true,"chunkEvict.enabled":true,"chunkEvict.keepOrder":false})", "chunkEvict.keepOrder=false"},
      {R"({"chunk.enabled":true,"global.dropChunkQuestion":false})", "global.dropChunkQuestion=false"},
      {R"({"chunk.enabled":true,"global.questionStart":"longest-all"})", "global.questionStart=longest-all"},
      {R"({"chunk.enabled":true,"kvEvict.enabled":true,"kvEvict.gqa":"expanded-heads"})", "kvEvict.gqa=expanded-heads"},
      {R"({"chunk.enabled":true,"kvEvict.enabled":true,"kvEvict.bos":"reference"})", "kvEvict.bos=reference"},
      {R"({"chunk.enabled":true,"calib.enabled":true,"calib.stage":"chunk"})", "calib.stage=chunk"},
      {R"({"chunk.enabled":true,"calib.enabled":true,"calib.gqa":"group-max"})", "calib.gqa=group-max"},
      {R"({"chunk.enabled":true,"calib.enabled":true,"calib.regionOver":"context-and-question"})",
       "calib.regionOver=context-and-question"},
  };
  for (const Case& c : cases) {
    const std::string e = refusal(c.config, d);
    if (!has(e, std::string("config: ") + c.knob) || !has(e, "use --device cpu")) {
      ++t::failures();
      std::fprintf(stderr, "  %s: got \"%s\"\n", c.knob, e.c_str());
    }
  }
  // The knobs the device maps exactly are not refused (the host-only chunk.split/budget/count never reach it).
  CHECK(refusal(R"({"chunk.enabled":true,"global.questionBos":true})", d).empty());
}

TEST(cuda_plan_checks_the_sample) {
  SampleData one({50, 50}, 1, true);
  CHECK(has(refusal(kParallelComp, one), "the question has 1 token"));
  SampleData bad({50, 50}, 4, true);
  bad.chunks[1][7] = 640;
  bad.finish();
  CHECK(has(refusal(kParallelComp, bad), "token id 640 at chunk 1 index 7 is outside the vocabulary"));
  SampleData ev({50, 50}, 4, true);
  ev.eval = {5, 6, 9999};
  ev.finish();
  CHECK(has(refusal(kParallelComp, ev), "eval token 9999"));
  ev.eval = {5, 6, 7};
  ev.finish();
  CHECK(plan(kParallelComp, ev).sample.eval_tokens == (std::vector<int32_t>{5, 6, 7}));
}

TEST(cuda_plan_full_truncates_like_the_cpu) {
  // 3 x 200 + 10 = 610 tokens > 512 - 5 new tokens: head 253 + tail 253 (LongBench's middle cut).
  SampleData d({200, 200, 200}, 10, true);
  const CudaPlan p = plan("{}", d);
  CHECK(!p.cfg.parallelcomp);
  CHECK(p.prompt_length == 506 && p.truncated_from == 610);
  CHECK(p.sample.context.size() + p.sample.question.size() == 506);
  CHECK(p.sample.question == d.question);  // the tail half ends with the whole question
  CHECK(p.sample.context[0] == d.chunks[0][0] && p.sample.context[252] == d.chunks[1][52]);
  CHECK(p.sample.context[253] == d.chunks[1][157]);  // tail half: prompt[610 - 253 ..)
  // full.maxTokens wins over the window; a 1-token question still gives the device 2.
  SampleData s({30}, 1, true);
  const CudaPlan q = plan(R"({"full.maxTokens":20})", s);
  CHECK(q.prompt_length == 20 && q.sample.question.size() == 2 && q.question_len == 1);
}

TEST(cuda_plan_trace_has_the_cpu_fields) {
  SampleData d({100, 80, 120}, 4, true);
  d.eval = {7, 8};
  d.finish();
  const PolicyConfig cfg = parse_policy_config(R"({"chunk.enabled":true,"chunkEvict.enabled":true,"chunkEvict.k":2,"preset":"parallelcomp"})");
  const CudaPlan p = plan_cuda_run(cfg, d.s, tiny_config());
  cuda::PipelineResult r;
  r.kept_chunks = {0, 1};
  r.freed_chunks = {2};
  r.chunk_nll = {1.5, 2.0, 3.25};
  r.question_logprob = {-0.5f, -1.0f, -2.0f};
  r.eval_nll = {0.25f, 0.75f};
  r.tokens = {11, 12, 13};
  r.first_logits.assign(640, 0.f);
  r.first_logits[42] = 9.f;
  r.first_logits[17] = 9.f;  // a tie: the lower id first
  r.first_logits[5] = 3.f;
  r.peak_cache_bytes = 4096;
  r.peak_bytes = 1 << 20;
  const std::string json = cuda_trace_json(cfg, p, r, tiny_config());
  const JsonValue t = json_parse(json.c_str(), json.size());
  auto ints = [&](const char* key) {
    std::vector<int> v;
    const JsonValue* a = t.get(key);
    if (a && a->is_array())
      for (const auto& x : a->arr) v.push_back(int(x.num));
    return v;
  };
  CHECK(t.get("device") && t.get("device")->str == "cuda");
  CHECK(t.get("policy") && t.get("policy")->str == "chunked");
  CHECK(t.get("preset") && t.get("preset")->str == "parallelcomp");
  CHECK(ints("keptChunks") == (std::vector<int>{0, 1}));
  CHECK(ints("freedChunks") == std::vector<int>{2});
  CHECK(ints("chunkLengths") == (std::vector<int>{100, 80, 120}));
  CHECK(t.get("questionStart") && t.get("questionStart")->num == 100);  // the longest kept chunk
  CHECK(ints("questionPositions") == (std::vector<int>{100, 101, 102, 103}));
  CHECK(ints("evalPositions") == (std::vector<int>{104, 105}));
  CHECK(ints("generatedPositions") == (std::vector<int>{104, 105, 106}));
  const JsonValue* q = t.get("questionNll");
  CHECK(q && q->arr.size() == 4 && q->arr[0].kind == JsonValue::Null && q->arr[3].num == 2.0);
  const JsonValue* s = t.get("chunkScores");
  CHECK(s && s->arr.size() == 3 && s->arr[2].num == 3.25);
  const JsonValue* top = t.get("finalTopLogits");
  CHECK(top && top->arr.size() == 32 && top->arr[0].arr[0].num == 17 && top->arr[1].arr[0].num == 42 &&
        top->arr[2].arr[0].num == 5);
  CHECK(t.get("peakCacheBytes") && t.get("peakCacheBytes")->num == 4096);
  CHECK(t.get("peakDeviceBytes") && t.get("peakDeviceBytes")->num == double(1 << 20));
  CHECK(cuda_result_nll(r) == (std::vector<float>{0.25f, 0.75f}));
}
