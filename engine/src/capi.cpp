// The C API: converts exceptions into status codes and a thread-local message.
#include <cstring>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "../include/pcomp.h"
#include "error.h"
#include "json.h"
#include "json_write.h"
#include "policy/config.h"
#include "session.h"
#include "threadpool.h"
#include "backend/cpu/cpu_features.h"

#ifndef PCOMP_VERSION
#define PCOMP_VERSION "0.0.0"
#endif

using namespace pcomp;

namespace pcomp {
namespace {
thread_local std::string g_last_error;
}
void set_last_error(const std::string& msg) { g_last_error = msg; }
}  // namespace pcomp

namespace {


const char* rope_name(RopeType t) {
  switch (t) {
    case RopeType::Default: return "default";
    case RopeType::Linear: return "linear";
    case RopeType::Dynamic: return "dynamic";
    case RopeType::Llama3: return "llama3";
    case RopeType::Yarn: return "yarn";
    case RopeType::LongRope: return "longrope";
  }
  return "?";
}

void check_seq(const pcomp_session* s, int seq) {
  if (!s->cache->live(seq)) throw EngineError("sequence " + std::to_string(seq) + " does not exist");
}

// {"device": "auto|cpu|cuda"} → "cpu" or "cuda" (auto: cuda when the build has it and a GPU is usable).
std::string choose_device(const char* options_json) {
  std::string device = "cpu";
  if (options_json && *options_json) {
    JsonValue root;
    try {
      root = json_parse(options_json, std::strlen(options_json));
    } catch (const JsonError& e) {
      throw EngineError(std::string("load options: not valid JSON (") + e.what() + ")");
    }
    if (!root.is_object()) throw EngineError("load options: must be a JSON object such as {\"device\":\"auto\"}");
    for (const auto& [key, value] : root.obj) {
      if (key != "device") throw EngineError("load options: unknown key \"" + key + "\" (valid keys: device)");
      if (!value.is_string() || (value.str != "auto" && value.str != "cpu" && value.str != "cuda"))
        throw EngineError("load options: key \"device\" must be auto|cpu|cuda");
      device = value.str;
    }
  }
  if (device == "cpu") return device;
  const char* why = "";
  const bool usable = cuda_backend(&why) != nullptr;
  if (device == "auto") return usable ? "cuda" : "cpu";
  if (!usable) throw EngineError(std::string("device cuda is not available: ") + (why && *why ? why : "unknown reason"));
  return device;
}

}  // namespace

extern "C" {

int pcomp_api_version(void) { return PCOMP_API_VERSION; }

const char* pcomp_build_info(void) {
  static std::string info;
  const char* why = "";
  const Backend* cuda = cuda_backend(&why);
  std::ostringstream o;
  o << "{\"version\":\"" << PCOMP_VERSION << "\",\"api\":" << PCOMP_API_VERSION << ",\"compiler\":\""
#if defined(__clang__)
    << "clang " << __clang_major__ << "." << __clang_minor__
#elif defined(__GNUC__)
    << "gcc " << __GNUC__ << "." << __GNUC_MINOR__
#endif
    << "\",\"simd\":\""
#if defined(__AVX512F__)
    << "avx512"
#elif defined(__AVX2__) && defined(__FMA__)
    << "avx2+fma"
#else
    << "scalar"
#endif
    << "\",\"cuda_compiled\":"
#ifdef PCOMP_WITH_CUDA
    << "true"
#else
    << "false"
#endif
    << ",\"cuda_available\":" << (cuda ? "true" : "false") << ",\"cuda_reason\":\"" << json_escape(why ? why : "")
    << "\",\"threads\":" << get_threads();
  const cpu::KernelChoice& k = cpu::active_kernels();
  o << ",\"cpu_features\":\"" << json_escape(cpu::detect_cpu_features().describe()) << "\",\"kernels\":{\"f32\":\""
    << cpu::kernel_set_name(k.f32) << "\",\"bf16\":\"" << cpu::kernel_set_name(k.bf16) << "\",\"note\":\"" << json_escape(k.note)
    << "\"}}";
  info = o.str();
  return info.c_str();
}

const char* pcomp_last_error(void) { return g_last_error.c_str(); }

const char* pcomp_knob_schema(void) {
  static std::string schema;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (schema.empty() && guarded([&] { schema = knob_schema_json(); }) != PCOMP_OK) return nullptr;
  set_last_error("");
  return schema.c_str();
}

const char* pcomp_config_resolve(const char* config_json) {
  thread_local std::string out;
  if (guarded([&] { out = policy_config_json(parse_policy_config(config_json)); }) != PCOMP_OK) return nullptr;
  return out.c_str();
}

void pcomp_set_threads(int n) { set_threads(n); }
int pcomp_get_threads(void) { return get_threads(); }

pcomp_status pcomp_model_load(const char* dir, pcomp_model** out) { return pcomp_model_load_ex(dir, nullptr, out); }

pcomp_status pcomp_model_load_ex(const char* dir, const char* options_json, pcomp_model** out) {
  *out = nullptr;
  return guarded([&] {
    if (!dir) throw EngineError("pcomp_model_load: dir is null");
    const std::string device = choose_device(options_json);
    auto h = std::make_unique<pcomp_model>();
    // The device holds bf16 matrices whatever PCOMP_WEIGHTS says; the host copy matches them.
    h->model = device == "cuda" ? load_model(dir, WeightStorage::BF16) : load_model(dir);
    const ModelConfig& c = h->model->cfg;
    std::ostringstream o;
    o << "{\"dir\":\"" << json_escape(dir) << "\",\"architecture\":\"" << c.architecture << "\",\"hidden_size\":" << c.dim
      << ",\"intermediate_size\":" << c.hidden << ",\"num_hidden_layers\":" << c.n_layers
      << ",\"num_attention_heads\":" << c.n_heads << ",\"num_key_value_heads\":" << c.n_kv_heads
      << ",\"head_dim\":" << c.head_dim << ",\"vocab_size\":" << c.vocab
      << ",\"max_position_embeddings\":" << c.max_pos << ",\"rope_theta\":" << c.rope_theta << ",\"rope_type\":\""
      << rope_name(c.rope_type) << "\",\"rope_factor\":" << c.rope_factor << ",\"tied_embeddings\":"
      << (c.tied ? "true" : "false") << ",\"sliding_window\":" << c.sliding_window << ",\"bos_token_id\":" << c.bos
      << ",\"eos_token_ids\":[";
    for (size_t i = 0; i < c.eos.size(); ++i) o << (i ? "," : "") << c.eos[i];
    o << "],\"weight_dtype\":\"" << h->model->weight_dtype << "\",\"weight_bytes\":" << h->model->weight_bytes
      << ",\"storage_dtype\":\"" << h->model->storage_dtype << "\",\"compute_dtype\":\"f32\",\"device\":\"" << device
      << "\"";
    h->backend = device == "cuda" ? cuda_backend(nullptr) : &cpu_backend();
    h->weights = std::make_unique<ModelWeights>(*h->model, *h->backend);
    o << ",\"backend\":\"" << h->backend->name() << "\"}";
    h->info_json = o.str();
    *out = h.release();
  });
}

void pcomp_model_free(pcomp_model* m) { delete m; }

const char* pcomp_model_info(const pcomp_model* m) { return m ? m->info_json.c_str() : "{}"; }

pcomp_status pcomp_session_new(pcomp_model* m, pcomp_session** out) {
  *out = nullptr;
  return guarded([&] {
    if (!m) throw EngineError("pcomp_session_new: model is null");
    auto s = std::make_unique<pcomp_session>();
    s->owner = m;
    s->model = m->model.get();
    s->weights = m->weights.get();
    s->backend = m->backend;
    s->cache = std::make_unique<KVCache>(m->model->cfg, *m->backend);
    *out = s.release();
  });
}

void pcomp_session_free(pcomp_session* s) { delete s; }

void pcomp_session_set_cancel(pcomp_session* s, const int32_t* flag) { s->cancel_flag = flag; }

int pcomp_seq_new(pcomp_session* s) { return s->cache->new_seq(); }

void pcomp_seq_free(pcomp_session* s, int seq) { s->cache->free_seq(seq); }

int pcomp_seq_length(const pcomp_session* s, int seq, int layer, int kv_head) {
  if (!s->cache->live(seq) || layer < 0 || layer >= s->cache->n_layers() || kv_head < 0 || kv_head >= s->cache->n_kv())
    return -1;
  return s->cache->length(seq, layer, kv_head);
}

pcomp_status pcomp_seq_gather(pcomp_session* s, int seq, int layer, int kv_head, const int32_t* keep, int n) {
  return guarded([&] {
    check_seq(s, seq);
    if (layer < 0 || layer >= s->cache->n_layers() || kv_head < 0 || kv_head >= s->cache->n_kv())
      throw EngineError("gather: layer or KV head out of range");
    s->cache->gather(seq, layer, kv_head, keep, n);
  });
}

pcomp_status pcomp_seq_truncate(pcomp_session* s, int seq, int n) {
  return guarded([&] {
    check_seq(s, seq);
    if (n < 0) throw EngineError("truncate: negative length");
    s->cache->truncate(seq, n);
  });
}

pcomp_status pcomp_seq_concat(pcomp_session* s, const int* seqs, int n, int* out) {
  return guarded([&] {
    std::vector<int> v(seqs, seqs + n);
    for (int q : v) check_seq(s, q);
    *out = s->cache->concat(v);
  });
}

size_t pcomp_session_cache_bytes(const pcomp_session* s, size_t* peak) {
  if (peak) *peak = s->cache->peak_bytes();
  return s->cache->bytes();
}

pcomp_status pcomp_prefill(pcomp_session* s, int n_seqs, const int* seq_ids, const int32_t* const* tokens,
                           const int32_t* const* positions, const int* n_tokens, pcomp_logits_mode mode,
                           float* logits_out) {
  return guarded([&] {
    s->poll_cancel();
    std::vector<SeqInput> items(n_seqs);
    for (int i = 0; i < n_seqs; ++i) {
      check_seq(s, seq_ids[i]);
      items[i].seq = seq_ids[i];
      items[i].tokens = tokens[i];
      items[i].positions = positions ? positions[i] : nullptr;
      items[i].n = n_tokens[i];
    }
    std::vector<float> logits;
    ForwardOptions opt;
    opt.logits = mode == PCOMP_LOGITS_ALL ? LogitsMode::All : mode == PCOMP_LOGITS_LAST ? LogitsMode::Last : LogitsMode::None;
    opt.logits_out = &logits;
    opt.cancel = &s->cancel;
    forward(*s->weights, *s->cache, items, opt, s->ws);
    if (logits_out && opt.logits != LogitsMode::None) std::memcpy(logits_out, logits.data(), logits.size() * sizeof(float));
  });
}

pcomp_status pcomp_prefill_logprobs(pcomp_session* s, int seq, const int32_t* tokens, const int32_t* positions, int n,
                                    const int32_t* targets, float* logprob) {
  return guarded([&] {
    s->poll_cancel();
    check_seq(s, seq);
    std::vector<SeqInput> items(1);
    items[0].seq = seq;
    items[0].tokens = tokens;
    items[0].positions = positions;
    items[0].n = n;
    items[0].targets = targets;
    items[0].target_logprob = logprob;
    ForwardOptions opt;
    opt.logits = LogitsMode::None;
    opt.cancel = &s->cancel;
    forward(*s->weights, *s->cache, items, opt, s->ws);
  });
}

pcomp_generate_params pcomp_generate_default_params(void) {
  pcomp_generate_params p;
  p.max_new_tokens = 128;
  p.stop_ids = nullptr;
  p.n_stop_ids = 0;
  p.first_position = -1;
  return p;
}

pcomp_status pcomp_decode_greedy(pcomp_session* s, int seq, const float* last_logits, const pcomp_generate_params* params,
                                 int32_t* out, int* n_out, pcomp_token_callback cb, void* user) {
  *n_out = 0;
  return guarded([&] {
    check_seq(s, seq);
    const int V = s->model->cfg.vocab;
    const int32_t* lg = nullptr;
    (void)lg;
    std::vector<float> logits(last_logits, last_logits + V);
    int32_t pos = params->first_position >= 0 ? params->first_position : s->cache->seq(seq).appended;
    std::vector<SeqInput> items(1);
    ForwardOptions opt;
    opt.logits = LogitsMode::Last;
    opt.logits_out = &logits;
    opt.cancel = &s->cancel;
    for (int t = 0; t < params->max_new_tokens; ++t) {
      int32_t best = 0;
      for (int i = 1; i < V; ++i)
        if (logits[i] > logits[best]) best = i;
      bool stop = false;
      for (int i = 0; i < params->n_stop_ids; ++i)
        if (params->stop_ids[i] == best) stop = true;
      if (stop) break;
      out[(*n_out)++] = best;
      if (cb && cb(user, best, *n_out)) break;
      if (t + 1 == params->max_new_tokens) break;
      s->poll_cancel();
      items[0].seq = seq;
      items[0].tokens = &out[*n_out - 1];
      items[0].positions = &pos;
      items[0].n = 1;
      forward(*s->weights, *s->cache, items, opt, s->ws);
      ++pos;
    }
  });
}

}  // extern "C"
