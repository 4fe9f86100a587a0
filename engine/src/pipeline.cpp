// pcomp_run: one sample through the policy its config describes (engine/src/policy/). Each run has
// its own KV cache, so the trace's peak bytes are this sample's alone; the cache holds one set per
// KV head, or per query head when a stage asks for the reference code's expanded heads. The same
// pipeline runs on every backend: the model's (backend.h).
#include <memory>
#include <new>

#include "../include/pcomp.h"
#include "error.h"
#include "policy/registry.h"
#include "policy/run.h"
#include "session.h"

struct pcomp_result {
  std::vector<int32_t> tokens;
  std::vector<float> nll;
  std::string trace;
};

namespace pcomp {

void RunContext::poll() {
  session->poll_cancel();
  if (session->cancel.load()) throw Cancelled();
}

namespace {
// Polls the session's cancel flag at every layer of every sequence, so a long prefill stops within
// a layer (forward() itself only reads the mirror between layers), then defers to the stage's hook.
struct PollingHook : LayerHook {
  pcomp_session* session;
  LayerHook* inner;
  PollingHook(pcomp_session* s, LayerHook* h) : session(s), inner(h) {}
  void before_attention(int layer, int item, View q, int n_q, KVCache& cache, int seq) override {
    session->poll_cancel();
    if (inner) inner->before_attention(layer, item, q, n_q, cache, seq);
  }
  bool attention(int layer, int item, const AttentionArgs& a, KVCache& cache, int seq) override {
    return inner && inner->attention(layer, item, a, cache, seq);
  }
};
}  // namespace

void RunContext::run_forward(const std::vector<SeqInput>& items, LogitsMode mode, std::vector<float>* logits,
                             LayerHook* hook) {
  poll();
  PollingHook polling(session, hook);
  ForwardOptions opt;
  opt.logits = mode;
  opt.logits_out = logits;
  opt.hook = &polling;
  opt.rope = &rope;
  opt.cancel = &session->cancel;
  forward(weights, cache, items, opt, ws);
}

namespace {
void check_sample(const pcomp_sample* s) {
  if (!s) throw EngineError("sample: null");
  if (s->n_chunks < 0 || (s->n_chunks > 0 && (!s->chunks || !s->chunk_lens))) throw EngineError("sample: bad chunks");
  for (int c = 0; c < s->n_chunks; ++c)
    if (s->chunk_lens[c] < 0 || (s->chunk_lens[c] > 0 && !s->chunks[c])) throw EngineError("sample: chunk " + std::to_string(c) + " is malformed");
  if (s->question_len < 0 || (s->question_len > 0 && !s->question)) throw EngineError("sample: bad question");
  if (s->eval_len < 0 || (s->eval_len > 0 && !s->eval_tokens)) throw EngineError("sample: bad eval tokens");
  if (s->max_new_tokens < 0) throw EngineError("sample: max_new_tokens must be >= 0");
  if (s->n_stop_ids < 0 || (s->n_stop_ids > 0 && !s->stop_ids)) throw EngineError("sample: bad stop ids");
}

}  // namespace
}  // namespace pcomp

using namespace pcomp;

extern "C" {

pcomp_status pcomp_run(pcomp_session* s, const pcomp_sample* sample, const char* config_json, pcomp_progress_callback cb,
                       void* user, pcomp_result** out) {
  if (out) *out = nullptr;
  return guarded([&] {
    if (!s || !out) throw EngineError("pcomp_run: null session or result pointer");
    check_sample(sample);
    const PolicyConfig cfg = parse_policy_config(config_json);
    if (cfg.calib && cfg.calib_stage == "chunk" && cfg.kv_evict)
      throw EngineError("config: calib.stage=chunk together with kvEvict.enabled is not supported (the reference pipeline does not model it)");
    const ModelConfig& mc = s->model->cfg;
    // The reference code caches after repeat_kv: either expanded-heads knob gives the run a cache of
    // one set per query head, as referencePipeline has, even when that stage is off.
    const bool expanded = cfg.chunk_enabled && (cfg.kv_gqa == "expanded-heads" || cfg.calib_gqa == "expanded-heads");
    KVCache cache(mc, *s->backend, expanded ? mc.n_heads : 0);
    s->cancel.store(0);
    RunContext ctx{*s->model, *s->weights, *s->backend, cache, s->ws, cfg, *sample, s, cb, user, {}, RopeParams::from_config(mc), {}, {}, {}};
    // The plan: each pipeline key's registry entry, by the role it plays.
    for (const std::string& key : cfg.pipeline) {
      const Stage& st = find_stage(key);
      if (st.rope) ctx.plan.rope = &st;
      if (st.drive) ctx.plan.driver = &st;
      if (st.prune) ctx.plan.chunk_evict = &st;
      if (st.select) ctx.plan.kv_evict = &st;
      if (st.calibrate) ctx.plan.calib = &st;
      if (st.global) ctx.plan.global = &st;
      if (st.cache_prompt) ctx.plan.streaming = &st;
      if (st.cache_select) ctx.plan.snapkv = &st;
      if (st.attn_hook) ctx.plan.attn = &st;
    }
    for (const CalibRule& r : cfg.calib_rules)
      if (cfg.calib && r.from > mc.n_layers)
        throw EngineError("config: calib.rules: rule " + r.region + ":" + std::to_string(r.from) + "-" + std::to_string(r.to) +
                          " starts past the model's " + std::to_string(mc.n_layers) + " layers");
    ctx.trace.policy = cfg.chunk_enabled ? "chunked" : cfg.streaming ? "streaming" : cfg.snapkv ? "snapkv" : cfg.dca ? "dca" : "full";
    ctx.trace.preset = cfg.preset;
    ctx.trace.cfg = &cfg;
    ctx.trace.cache_sets = cache.n_kv();
    ctx.plan.driver->drive(ctx);
    ctx.trace.peak_bytes = cache.peak_bytes();
    auto r = std::make_unique<pcomp_result>();
    r->tokens = std::move(ctx.tokens);
    r->nll = std::move(ctx.nll);
    r->trace = ctx.trace.to_json(mc.n_layers);
    *out = r.release();
  });
}

pcomp_status pcomp_config_check(const pcomp_model* m, const char* config_json) {
  return guarded([&] {
    if (!m) throw EngineError("pcomp_config_check: model is null");
    const PolicyConfig cfg = parse_policy_config(config_json);
    if (cfg.calib && cfg.calib_stage == "chunk" && cfg.kv_evict)
      throw EngineError("config: calib.stage=chunk together with kvEvict.enabled is not supported (the reference pipeline does not model it)");
    const ModelConfig& mc = m->model->cfg;
    for (const CalibRule& r : cfg.calib_rules)
      if (cfg.calib && r.from > mc.n_layers)
        throw EngineError("config: calib.rules: rule " + r.region + ":" + std::to_string(r.from) + "-" + std::to_string(r.to) +
                          " starts past the model's " + std::to_string(mc.n_layers) + " layers");
  });
}

const int32_t* pcomp_result_tokens(const pcomp_result* r, int* n) {
  *n = r ? int(r->tokens.size()) : 0;
  return r ? r->tokens.data() : nullptr;
}
const float* pcomp_result_nll(const pcomp_result* r, int* n) {
  *n = r ? int(r->nll.size()) : 0;
  return r ? r->nll.data() : nullptr;
}
const char* pcomp_result_trace(const pcomp_result* r) { return r ? r->trace.c_str() : "{}"; }
void pcomp_result_free(pcomp_result* r) { delete r; }
}
