// Node addon: one ObjectWrap per model handle, one AsyncWorker per long call. Includes only
// pcomp.h from the engine. Typed arrays in and out; progress through thread-safe functions;
// cancellation through an Int32Array flag the JS side sets.
#include <napi.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../include/pcomp.h"

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::vector<int32_t> to_vec(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(v.Env(), std::string(what) + " must be an Int32Array");
  auto a = v.As<Napi::Int32Array>();
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}

// Keeps the JS cancel flag alive while the worker reads it.
struct CancelRef {
  Napi::Reference<Napi::Int32Array> ref;
  const int32_t* ptr = nullptr;
  void set(const Napi::Value& v) {
    if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
      auto a = v.As<Napi::Int32Array>();
      ref = Napi::Persistent(a);
      ptr = a.Data();
    }
  }
};

using ModelPtr = std::shared_ptr<pcomp_model>;

struct SessionGuard {
  pcomp_session* s = nullptr;
  ~SessionGuard() { if (s) pcomp_session_free(s); }
};

class Worker : public Napi::AsyncWorker {
 public:
  Worker(Napi::Env env, ModelPtr model)
      : Napi::AsyncWorker(env), model_(std::move(model)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  CancelRef cancel;

 protected:
  void check(pcomp_status st) {
    if (st != PCOMP_OK) {
      status_ = st;
      throw std::runtime_error(pcomp_last_error());
    }
  }
  pcomp_session* new_session(SessionGuard& g) {
    check(pcomp_session_new(model_.get(), &g.s));
    pcomp_session_set_cancel(g.s, cancel.ptr);
    return g.s;
  }
  void Execute() override {
    try {
      Run();
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  virtual void Run() = 0;
  virtual Napi::Value Result(Napi::Env env) = 0;
  void OnOK() override { deferred_.Resolve(Result(Env())); }
  void OnError(const Napi::Error& e) override {
    Napi::Error err = Napi::Error::New(Env(), e.Message());
    const char* code = status_ == PCOMP_ERR_CANCELLED ? "PCOMP_CANCELLED"
                       : status_ == PCOMP_ERR_INPUT   ? "PCOMP_INPUT"
                                                      : "PCOMP_INTERNAL";
    err.Set("code", Napi::String::New(Env(), code));
    deferred_.Reject(err.Value());
  }
  ModelPtr model_;
  pcomp_status status_ = PCOMP_ERR_INTERNAL;
  Napi::Promise::Deferred deferred_;
};

class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, std::string dir, std::string options)
      : Napi::AsyncWorker(env), dir_(std::move(dir)), options_(std::move(options)),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    pcomp_model* m = nullptr;
    if (pcomp_model_load_ex(dir_.c_str(), options_.c_str(), &m) != PCOMP_OK) SetError(pcomp_last_error());
    else model_ = ModelPtr(m, pcomp_model_free);
  }
  void OnOK() override;
  void OnError(const Napi::Error& e) override {
    Napi::Error err = Napi::Error::New(Env(), e.Message());
    err.Set("code", Napi::String::New(Env(), "PCOMP_INPUT"));
    deferred_.Reject(err.Value());
  }

 private:
  std::string dir_, options_;  // options: pcomp_model_load_ex's JSON ("" = defaults)
  ModelPtr model_;
  Napi::Promise::Deferred deferred_;
};

// --- logits: batched prefill of several fresh sequences -----------------------------------------
class LogitsWorker : public Worker {
 public:
  using Worker::Worker;
  std::vector<std::vector<int32_t>> tokens, positions;
  int mode = PCOMP_LOGITS_LAST;
  void Run() override {
    SessionGuard g;
    pcomp_session* s = new_session(g);
    const int n = int(tokens.size());
    std::vector<int> ids(n), lens(n);
    std::vector<const int32_t*> tp(n), pp(n);
    size_t total = 0;
    for (int i = 0; i < n; ++i) {
      ids[i] = pcomp_seq_new(s);
      lens[i] = int(tokens[i].size());
      tp[i] = tokens[i].data();
      pp[i] = positions[i].empty() ? nullptr : positions[i].data();
      if (!positions[i].empty() && positions[i].size() != tokens[i].size())
        throw std::runtime_error("positions must have one entry per token");
      total += tokens[i].size();
    }
    bool any_pos = false;
    for (auto& p : positions) any_pos |= !p.empty();
    const size_t rows = mode == PCOMP_LOGITS_ALL ? total : size_t(n);
    vocab_ = vocab;
    out_.resize(rows * size_t(vocab_));
    check(pcomp_prefill(s, n, ids.data(), tp.data(), any_pos ? pp.data() : nullptr, lens.data(),
                        pcomp_logits_mode(mode), out_.data()));
  }
  Napi::Value Result(Napi::Env env) override {
    auto a = Napi::Float32Array::New(env, out_.size());
    std::memcpy(a.Data(), out_.data(), out_.size() * sizeof(float));
    return a;
  }
  int vocab = 0;

 private:
  int vocab_ = 0;
  std::vector<float> out_;
};

// --- logprobs of targets (perplexity, self-information) ------------------------------------------
class LogprobWorker : public Worker {
 public:
  using Worker::Worker;
  std::vector<int32_t> tokens, positions, targets;
  void Run() override {
    SessionGuard g;
    pcomp_session* s = new_session(g);
    int seq = pcomp_seq_new(s);
    if (targets.size() != tokens.size()) throw std::runtime_error("targets must have one entry per token");
    out_.assign(tokens.size(), 0.f);
    check(pcomp_prefill_logprobs(s, seq, tokens.data(), positions.empty() ? nullptr : positions.data(),
                                 int(tokens.size()), targets.data(), out_.data()));
  }
  Napi::Value Result(Napi::Env env) override {
    auto a = Napi::Float32Array::New(env, out_.size());
    std::memcpy(a.Data(), out_.data(), out_.size() * sizeof(float));
    return a;
  }

 private:
  std::vector<float> out_;
};

// --- generate: prefill a prompt, greedy decode ----------------------------------------------------
class GenerateWorker : public Worker {
 public:
  using Worker::Worker;
  std::vector<int32_t> tokens, positions, stop_ids;
  int max_new = 128;
  int vocab = 0;
  Napi::ThreadSafeFunction on_token;
  bool has_cb = false;

  static int token_cb(void* user, int32_t tok, int n_done) {
    auto* self = static_cast<GenerateWorker*>(user);
    if (self->has_cb) {
      self->on_token.NonBlockingCall([tok, n_done](Napi::Env env, Napi::Function fn) {
        fn.Call({Napi::Number::New(env, tok), Napi::Number::New(env, n_done)});
      });
    }
    return 0;
  }
  void Run() override {
    SessionGuard g;
    pcomp_session* s = new_session(g);
    int seq = pcomp_seq_new(s);
    std::vector<float> logits(static_cast<size_t>(vocab));
    const int32_t* tp = tokens.data();
    const int32_t* pp = positions.empty() ? nullptr : positions.data();
    int n = int(tokens.size());
    auto t0 = Clock::now();
    check(pcomp_prefill(s, 1, &seq, &tp, pp ? &pp : nullptr, &n, PCOMP_LOGITS_LAST, logits.data()));
    prefill_ms_ = ms_since(t0);
    pcomp_generate_params p = pcomp_generate_default_params();
    p.max_new_tokens = max_new;
    p.stop_ids = stop_ids.data();
    p.n_stop_ids = int(stop_ids.size());
    if (pp) p.first_position = positions.back() + 1;
    out_.resize(size_t(max_new));
    int n_out = 0;
    t0 = Clock::now();
    if (max_new > 0) check(pcomp_decode_greedy(s, seq, logits.data(), &p, out_.data(), &n_out, token_cb, this));
    decode_ms_ = ms_since(t0);
    out_.resize(size_t(n_out));
    pcomp_session_cache_bytes(s, &peak_);
  }
  Napi::Value Result(Napi::Env env) override {
    if (has_cb) on_token.Release();
    auto o = Napi::Object::New(env);
    auto a = Napi::Int32Array::New(env, out_.size());
    if (!out_.empty()) std::memcpy(a.Data(), out_.data(), out_.size() * sizeof(int32_t));
    o.Set("tokens", a);
    o.Set("prefillMs", prefill_ms_);
    o.Set("decodeMs", decode_ms_);
    o.Set("peakCacheBytes", double(peak_));
    return o;
  }
  void OnError(const Napi::Error& e) override {
    if (has_cb) on_token.Release();
    Worker::OnError(e);
  }

 private:
  std::vector<int32_t> out_;
  double prefill_ms_ = 0, decode_ms_ = 0;
  size_t peak_ = 0;
};

// --- run: one sample through the policy pipeline -------------------------------------------------
class RunWorker : public Worker {
 public:
  using Worker::Worker;
  std::vector<std::vector<int32_t>> chunks;
  std::vector<int32_t> question, eval_tokens, stop_ids;
  int max_new = 0;
  std::string config;
  Napi::ThreadSafeFunction on_progress;
  bool has_cb = false;

  static void progress_cb(void* user, const char* stage, int done, int total) {
    auto* self = static_cast<RunWorker*>(user);
    if (!self->has_cb) return;
    std::string st(stage ? stage : "");
    self->on_progress.NonBlockingCall([st, done, total](Napi::Env env, Napi::Function fn) {
      fn.Call({Napi::String::New(env, st), Napi::Number::New(env, done), Napi::Number::New(env, total)});
    });
  }
  void Run() override {
    SessionGuard g;
    pcomp_session* s = new_session(g);
    std::vector<const int32_t*> cp;
    std::vector<int> cl;
    for (auto& c : chunks) { cp.push_back(c.data()); cl.push_back(int(c.size())); }
    pcomp_sample smp{};
    smp.chunks = cp.data();
    smp.chunk_lens = cl.data();
    smp.n_chunks = int(chunks.size());
    smp.question = question.data();
    smp.question_len = int(question.size());
    smp.eval_tokens = eval_tokens.empty() ? nullptr : eval_tokens.data();
    smp.eval_len = int(eval_tokens.size());
    smp.max_new_tokens = max_new;
    smp.stop_ids = stop_ids.data();
    smp.n_stop_ids = int(stop_ids.size());
    pcomp_result* r = nullptr;
    check(pcomp_run(s, &smp, config.c_str(), progress_cb, this, &r));
    int n = 0;
    const int32_t* t = pcomp_result_tokens(r, &n);
    tokens_.assign(t, t + n);
    const float* nl = pcomp_result_nll(r, &n);
    nll_.assign(nl, nl + n);
    trace_ = pcomp_result_trace(r);
    pcomp_result_free(r);
  }
  Napi::Value Result(Napi::Env env) override {
    if (has_cb) on_progress.Release();
    auto o = Napi::Object::New(env);
    auto a = Napi::Int32Array::New(env, tokens_.size());
    if (!tokens_.empty()) std::memcpy(a.Data(), tokens_.data(), tokens_.size() * sizeof(int32_t));
    auto b = Napi::Float32Array::New(env, nll_.size());
    if (!nll_.empty()) std::memcpy(b.Data(), nll_.data(), nll_.size() * sizeof(float));
    o.Set("tokens", a);
    o.Set("nll", b);
    o.Set("trace", trace_);
    return o;
  }
  void OnError(const Napi::Error& e) override {
    if (has_cb) on_progress.Release();
    Worker::OnError(e);
  }

 private:
  std::vector<int32_t> tokens_;
  std::vector<float> nll_;
  std::string trace_;
};

class Model : public Napi::ObjectWrap<Model> {
 public:
  static Napi::FunctionReference ctor;
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "Model",
                                   {InstanceMethod("info", &Model::Info), InstanceMethod("logits", &Model::Logits),
                                    InstanceMethod("logprobs", &Model::Logprobs),
                                    InstanceMethod("generate", &Model::Generate), InstanceMethod("run", &Model::RunSample),
                                    InstanceMethod("checkConfig", &Model::CheckConfig),
                                    InstanceMethod("free", &Model::Free)});
    ctor = Napi::Persistent(f);
    ctor.SuppressDestruct();
    exports.Set("Model", f);
  }
  Model(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Model>(info) {}
  ModelPtr model;
  int vocab = 0;

 private:
  ModelPtr need(Napi::Env env) {
    if (!model) throw Napi::Error::New(env, "model was freed");
    return model;
  }
  Napi::Value Info(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), pcomp_model_info(need(info.Env()).get()));
  }
  // checkConfig(configJson): null when the model can run it, else the engine's message (cheap: no forward).
  Napi::Value CheckConfig(const Napi::CallbackInfo& info) {
    if (!info[0].IsString()) throw Napi::TypeError::New(info.Env(), "checkConfig(configJson: string)");
    const std::string json = info[0].As<Napi::String>().Utf8Value();
    if (pcomp_config_check(need(info.Env()).get(), json.c_str()) == PCOMP_OK) return info.Env().Null();
    return Napi::String::New(info.Env(), pcomp_last_error());
  }
  // logits(seqs: {tokens, positions?}[], mode: 'last'|'all', cancel?)
  Napi::Value Logits(const Napi::CallbackInfo& info) {
    auto w = new LogitsWorker(info.Env(), need(info.Env()));
    auto arr = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      auto o = arr.Get(i).As<Napi::Object>();
      w->tokens.push_back(to_vec(o.Get("tokens"), "tokens"));
      auto p = o.Get("positions");
      w->positions.push_back(p.IsUndefined() || p.IsNull() ? std::vector<int32_t>() : to_vec(p, "positions"));
    }
    w->mode = info[1].As<Napi::String>().Utf8Value() == "all" ? PCOMP_LOGITS_ALL : PCOMP_LOGITS_LAST;
    w->vocab = vocab;
    if (info.Length() > 2) w->cancel.set(info[2]);
    auto p = w->promise();
    w->Queue();
    return p;
  }
  // logprobs(tokens, positions|null, targets, cancel?)
  Napi::Value Logprobs(const Napi::CallbackInfo& info) {
    auto w = new LogprobWorker(info.Env(), need(info.Env()));
    w->tokens = to_vec(info[0], "tokens");
    if (!info[1].IsNull() && !info[1].IsUndefined()) w->positions = to_vec(info[1], "positions");
    w->targets = to_vec(info[2], "targets");
    if (info.Length() > 3) w->cancel.set(info[3]);
    auto p = w->promise();
    w->Queue();
    return p;
  }
  // generate(tokens, {maxNew, stopIds, positions?}, cancel?, onToken?)
  Napi::Value Generate(const Napi::CallbackInfo& info) {
    auto w = new GenerateWorker(info.Env(), need(info.Env()));
    w->tokens = to_vec(info[0], "tokens");
    auto o = info[1].As<Napi::Object>();
    w->max_new = o.Get("maxNew").As<Napi::Number>().Int32Value();
    if (o.Has("stopIds")) w->stop_ids = to_vec(o.Get("stopIds"), "stopIds");
    if (o.Has("positions") && !o.Get("positions").IsUndefined()) w->positions = to_vec(o.Get("positions"), "positions");
    w->vocab = vocab;
    if (info.Length() > 2) w->cancel.set(info[2]);
    if (info.Length() > 3 && info[3].IsFunction()) {
      w->on_token = Napi::ThreadSafeFunction::New(info.Env(), info[3].As<Napi::Function>(), "onToken", 0, 1);
      w->has_cb = true;
    }
    auto p = w->promise();
    w->Queue();
    return p;
  }
  // run({chunks, question, evalTokens?, maxNew, stopIds}, configJson, cancel?, onProgress?)
  Napi::Value RunSample(const Napi::CallbackInfo& info) {
    auto w = new RunWorker(info.Env(), need(info.Env()));
    auto o = info[0].As<Napi::Object>();
    auto ch = o.Get("chunks").As<Napi::Array>();
    for (uint32_t i = 0; i < ch.Length(); ++i) w->chunks.push_back(to_vec(ch.Get(i), "chunks[i]"));
    w->question = to_vec(o.Get("question"), "question");
    if (o.Has("evalTokens") && !o.Get("evalTokens").IsUndefined()) w->eval_tokens = to_vec(o.Get("evalTokens"), "evalTokens");
    w->max_new = o.Get("maxNew").As<Napi::Number>().Int32Value();
    if (o.Has("stopIds")) w->stop_ids = to_vec(o.Get("stopIds"), "stopIds");
    w->config = info[1].As<Napi::String>().Utf8Value();
    if (info.Length() > 2) w->cancel.set(info[2]);
    if (info.Length() > 3 && info[3].IsFunction()) {
      w->on_progress = Napi::ThreadSafeFunction::New(info.Env(), info[3].As<Napi::Function>(), "onProgress", 0, 1);
      w->has_cb = true;
    }
    auto p = w->promise();
    w->Queue();
    return p;
  }
  Napi::Value Free(const Napi::CallbackInfo& info) {
    model.reset();  // in-flight calls hold their own reference
    return info.Env().Undefined();
  }
};

Napi::FunctionReference Model::ctor;

void LoadWorker::OnOK() {
  Napi::Object obj = Model::ctor.New({});
  Model* m = Model::Unwrap(obj);
  m->model = model_;
  // vocab size, read from the info JSON's "vocab_size"
  std::string info = pcomp_model_info(model_.get());
  auto pos = info.find("\"vocab_size\":");
  m->vocab = pos == std::string::npos ? 0 : std::stoi(info.substr(pos + 13));
  deferred_.Resolve(obj);
}

Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  if (!info[0].IsString() || !(info[1].IsUndefined() || info[1].IsString()))
    throw Napi::TypeError::New(info.Env(), "loadModel(dir: string, optionsJson?: string)");
  auto w = new LoadWorker(info.Env(), info[0].As<Napi::String>().Utf8Value(),
                          info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : std::string());
  auto p = w->promise();
  w->Queue();
  return p;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Model::Init(env, exports);
  exports.Set("loadModel", Napi::Function::New(env, LoadModel));
  exports.Set("apiVersion", Napi::Function::New(env, [](const Napi::CallbackInfo& i) {
                return Napi::Number::New(i.Env(), pcomp_api_version());
              }));
  // knobSchema(): the engine's view of engine/knobs.json as JSON; throws when the embedded schema is invalid.
  exports.Set("knobSchema", Napi::Function::New(env, [](const Napi::CallbackInfo& i) -> Napi::Value {
    const char* s = pcomp_knob_schema();
    if (!s) throw Napi::Error::New(i.Env(), pcomp_last_error());
    return Napi::String::New(i.Env(), s);
  }));
  // resolveConfig(configJson): {config: the engine's resolved config as JSON} or {error: its message}.
  exports.Set("resolveConfig", Napi::Function::New(env, [](const Napi::CallbackInfo& i) -> Napi::Value {
    if (!i[0].IsString()) throw Napi::TypeError::New(i.Env(), "resolveConfig(configJson: string)");
    const std::string json = i[0].As<Napi::String>().Utf8Value();
    const char* out = pcomp_config_resolve(json.c_str());
    Napi::Object r = Napi::Object::New(i.Env());
    if (out) r.Set("config", Napi::String::New(i.Env(), out));
    else r.Set("error", Napi::String::New(i.Env(), pcomp_last_error()));
    return r;
  }));
  exports.Set("buildInfo", Napi::Function::New(env, [](const Napi::CallbackInfo& i) {
                return Napi::String::New(i.Env(), pcomp_build_info());
              }));
  exports.Set("setThreads", Napi::Function::New(env, [](const Napi::CallbackInfo& i) {
                pcomp_set_threads(i[0].As<Napi::Number>().Int32Value());
                return i.Env().Undefined();
              }));
  exports.Set("getThreads", Napi::Function::New(env, [](const Napi::CallbackInfo& i) {
                return Napi::Number::New(i.Env(), pcomp_get_threads());
              }));
  // Ends the process now: exit() would run libuv's and the engine's teardown, which joins threads
  // still inside a long op (one layer of full attention over 128K tokens takes minutes).
  exports.Set("exitNow", Napi::Function::New(env, [](const Napi::CallbackInfo& i) {
                std::_Exit(i[0].As<Napi::Number>().Int32Value());
                return i.Env().Undefined();
              }));
  return exports;
}

}  // namespace

NODE_API_MODULE(pcomp_native, Init)
