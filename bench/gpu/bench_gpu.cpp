// GPU benchmark: a seeded random Llama-3-8B-shaped model (bf16 matrices made on the host, uploaded
// once to the CUDA backend), `full` and ParallelComp through pcomp_run (the one engine, so exactly
// what `pcomp eval --device cuda` runs) at the given context lengths: prefill time, peak memory
// (weights + the run's peak KV cache) and decode tokens per second. One JSON line and one markdown table row per run, flushed as soon as the run
// ends, so a run killed by a timeout keeps what finished (scripts/gpu-check.sh relies on that).
//
// Built by scripts/gpu-check.sh against build-gpu/libpcomp_{core,cuda}.a:
//   nvcc -O2 -std=c++17 -Iengine/src -Iengine/include bench/gpu/bench_gpu.cpp -Xlinker --start-group \
//     build-gpu/libpcomp_core.a build-gpu/libpcomp_cuda.a -Xlinker --end-group -o build-gpu/pcomp_gpu_bench
// Usage:
//   pcomp_gpu_bench [--lengths 32768,131072] [--modes parallelcomp,full] [--decode 32] [--seed 1]
//                   [--jsonl FILE] [--md FILE] [--plan]
// --plan prints what would run (chunk counts, KV bytes) and exits without touching a GPU.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <chrono>
#include <memory>

#include "../../engine/include/pcomp.h"
#include "backend/backend.h"
#include "forward.h"
#include "json.h"
#include "model.h"
#include "session.h"
#include "threadpool.h"

using namespace pcomp;

namespace {

// Llama-3-8B: hidden 4096, MLP 14336, 32 layers, 32 query / 8 KV heads of 128, vocab 128256.
ModelConfig llama3_8b() {
  ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.dim = 4096; c.hidden = 14336; c.n_layers = 32; c.n_heads = 32; c.n_kv_heads = 8; c.head_dim = 128;
  c.vocab = 128256; c.max_pos = 8192; c.eps = 1e-5f; c.rope_theta = 500000.0; c.bos = 128000;
  return c;
}

// The reference code's Llama-3 chunk budget (research notes §1.1: context_max_len 7600) and a
// question of 64 tokens, as a LongBench QA prompt's tail is about that long.
constexpr int CHUNK_BUDGET = 7600;
constexpr int QUESTION = 64;
// Paper Table 7 (research notes §7.6): the fastest prefill it reports, Ours-Compression with 23
// chunks in parallel, Llama2-7B on one 64 GB card, 56.07 s at 79742 MB. The yardstick.
constexpr double PAPER_PREFILL_128K_S = 56.07;

struct Args {
  std::vector<int> lengths = {32768, 131072};
  std::vector<std::string> modes = {"parallelcomp", "full"};
  int decode = 32;
  uint64_t seed = 1;
  std::string jsonl, md;
  bool plan = false;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "pcomp_gpu_bench: %s\nusage: pcomp_gpu_bench [--lengths N,...] [--modes parallelcomp,parallelcomp-kv,full] "
               "[--decode N] [--seed N] [--jsonl FILE] [--md FILE] [--plan]\n", why.c_str());
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(k + " needs a value");
      return argv[++i];
    };
    if (k == "--lengths") {
      a.lengths.clear();
      for (auto& s : split(value())) {
        const int n = std::atoi(s.c_str());
        if (n < 2 * QUESTION) usage("--lengths: " + s + " is not a context length of at least 128 tokens");
        a.lengths.push_back(n);
      }
    } else if (k == "--modes") {
      a.modes = split(value());
      for (auto& m : a.modes)
        if (m != "full" && m != "parallelcomp" && m != "parallelcomp-kv") usage("--modes: unknown mode " + m);
    } else if (k == "--decode") {
      a.decode = std::atoi(value().c_str());
      if (a.decode < 2) usage("--decode must be at least 2 (the first token comes from the prefill)");
    } else if (k == "--seed") {
      a.seed = std::strtoull(value().c_str(), nullptr, 10);
    } else if (k == "--jsonl") {
      a.jsonl = value();
    } else if (k == "--md") {
      a.md = value();
    } else if (k == "--plan") {
      a.plan = true;
    } else {
      usage("unknown argument " + k);
    }
  }
  return a;
}

std::vector<int32_t> random_tokens(int n, int vocab, uint32_t seed, int bos) {
  std::mt19937 r(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = int32_t(r() % uint32_t(vocab - 1000));  // ordinary ids, no special tokens
  if (n > 0) t[0] = bos;
  return t;
}

int chunk_count(int L) { return (L + CHUNK_BUDGET - 1) / CHUNK_BUDGET; }

double kv_gib(const ModelConfig& c, double tokens) {
  return tokens * c.n_layers * c.n_kv_heads * c.head_dim * 2 /*K,V*/ * 2 /*bf16*/ / double(1ull << 30);
}

void emit(FILE* f, const std::string& line) {
  if (!f) return;
  std::fputs(line.c_str(), f);
  std::fputc('\n', f);
  std::fflush(f);
}

// splitmix64: a counter-based generator, so the weights are the same whatever the thread count.
inline uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
inline float uniform(uint64_t seed, size_t i, float a) {
  return (float((mix(seed ^ (i * 0x2545f4914f6cdd1dull)) >> 40) * (1.0 / 16777216.0)) * 2.f - 1.f) * a;
}

// Uniform weights of the normal's standard deviation (a = sd * sqrt(3)), matrices bf16 (the upper
// halves, truncated), norms 1, the embedding f32.
std::unique_ptr<Model> random_model(const ModelConfig& c, uint64_t seed) {
  auto m = std::make_unique<Model>();
  m->cfg = c;
  m->weight_dtype = m->storage_dtype = "bf16";
  uint64_t salt = seed * 1000003ull;
  auto mat = [&](size_t n, float sd) {
    m->owned_bf16.emplace_back(n);
    uint16_t* d = m->owned_bf16.back().data();
    const uint64_t s = ++salt;
    const size_t B = size_t(1) << 20;
    pool().parallel_for(int((n + B - 1) / B), [&](int b) {
      for (size_t i = size_t(b) * B; i < std::min(n, size_t(b + 1) * B); ++i) {
        const float f = uniform(s, i, sd * 1.7320508f);
        uint32_t u;
        std::memcpy(&u, &f, 4);
        d[i] = uint16_t(u >> 16);
      }
    });
    m->weight_bytes += n * 2;
    return Weight::from_bf16(d);
  };
  auto ones = [&](size_t n) {
    m->owned.emplace_back(n, 1.f);
    return m->owned.back().data();
  };
  const size_t D = c.dim, F = c.hidden, Q = size_t(c.n_heads) * c.head_dim, KVd = size_t(c.n_kv_heads) * c.head_dim;
  const float sd = 0.02f;
  m->layers.resize(c.n_layers);
  for (auto& l : m->layers) {
    l.attn_norm = ones(D);
    l.ffn_norm = ones(D);
    l.wq = mat(Q * D, sd);
    l.wk = mat(KVd * D, sd);
    l.wv = mat(KVd * D, sd);
    l.wo = mat(D * Q, sd);
    l.w_gate = mat(F * D, sd);
    l.w_up = mat(F * D, sd);
    l.w_down = mat(D * F, sd);
  }
  m->owned.emplace_back(size_t(c.vocab) * D);
  float* e = m->owned.back().data();
  const uint64_t es = ++salt;
  pool().parallel_for(c.vocab, [&](int v) {
    for (size_t i = 0; i < D; ++i) e[size_t(v) * D + i] = uniform(es, size_t(v) * D + i, 1.7320508f);
  });
  m->embed = e;
  m->norm = ones(D);
  m->lm_head = mat(size_t(c.vocab) * D, sd);
  return m;
}

struct Timing {
  using clock = std::chrono::steady_clock;
  clock::time_point start = clock::now(), first_decode;
  bool decoding = false;
};
void on_progress(void* user, const char* stage, int, int) {
  auto* t = static_cast<Timing*>(user);
  if (!t->decoding && std::strcmp(stage, "decode") == 0) {
    t->decoding = true;
    t->first_decode = Timing::clock::now();
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  const ModelConfig cfg = llama3_8b();
  if (args.plan) {
    for (int L : args.lengths)
      for (const auto& mode : args.modes)
        std::printf("%-16s L=%-7d chunks=%-3d full KV %.2f GiB\n", mode.c_str(), L, mode == "full" ? 1 : chunk_count(L),
                    kv_gib(cfg, L + QUESTION));
    return 0;
  }

  const char* why = nullptr;
  const Backend* cuda = cuda_backend(&why);
  if (!cuda) {
    std::fprintf(stderr, "pcomp_gpu_bench: no GPU: %s\n", why ? why : "?");
    return 3;
  }
  FILE* jf = args.jsonl.empty() ? nullptr : std::fopen(args.jsonl.c_str(), "a");
  FILE* mf = args.md.empty() ? nullptr : std::fopen(args.md.c_str(), "a");
  const char* env_card = std::getenv("PCOMP_GPU_NAME");
  const std::string card = env_card && *env_card ? env_card : "cuda";
  std::fprintf(stderr, "pcomp_gpu_bench: generating the random model (seed %llu) on the host\n", (unsigned long long)args.seed);
  auto pm = std::make_unique<pcomp_model>();
  pm->model = random_model(cfg, args.seed);
  pm->backend = cuda;
  pm->weights = std::make_unique<ModelWeights>(*pm->model, *cuda);  // the upload
  pm->info_json = "{}";
  const double weights_gib = pm->model->weight_bytes / double(1ull << 30);
  std::fprintf(stderr, "pcomp_gpu_bench: matrices %.2f GiB uploaded\n", weights_gib);
  pcomp_session* session = nullptr;
  if (pcomp_session_new(pm.get(), &session) != PCOMP_OK) {
    std::fprintf(stderr, "pcomp_gpu_bench: %s\n", pcomp_last_error());
    return 1;
  }

  int failures = 0;
  for (int L : args.lengths) {
    for (const auto& mode : args.modes) {
      const std::vector<int32_t> question = random_tokens(QUESTION, cfg.vocab, uint32_t(args.seed * 7919 + 1), cfg.bos);
      std::vector<std::vector<int32_t>> chunks;
      std::string config;
      if (mode == "full") {
        chunks.push_back(random_tokens(L, cfg.vocab, uint32_t(args.seed * 7919 + 2), cfg.bos));
        config = "{\"full.maxTokens\":" + std::to_string(L + QUESTION) + "}";  // no truncation: the whole context
      } else {
        // The context split evenly into chunks of at most the budget, each starting with BOS; 4 prefilled
        // per forward, the 3 with the lowest question NLL kept.
        const int n = chunk_count(L);
        for (int c = 0; c < n; ++c)
          chunks.push_back(random_tokens(L / n + (c < L % n ? 1 : 0), cfg.vocab, uint32_t(args.seed * 7919 + 100 + c), cfg.bos));
        config = std::string("{\"chunk.enabled\":true,\"chunkEvict.enabled\":true,\"chunkEvict.k\":3,\"chunk.parallel\":4") +
                 (mode == "parallelcomp-kv" ? ",\"kvEvict.enabled\":true" : "") + "}";
      }
      std::vector<const int32_t*> cp;
      std::vector<int> cl;
      for (auto& c : chunks) {
        cp.push_back(c.data());
        cl.push_back(int(c.size()));
      }
      pcomp_sample smp{};
      smp.chunks = cp.data();
      smp.chunk_lens = cl.data();
      smp.n_chunks = int(chunks.size());
      smp.question = question.data();
      smp.question_len = int(question.size());
      smp.max_new_tokens = args.decode;
      std::fprintf(stderr, "pcomp_gpu_bench: %s at %d tokens ...\n", mode.c_str(), L);
      char line[1024], row[512];
      Timing t;
      pcomp_result* r = nullptr;
      const pcomp_status st = pcomp_run(session, &smp, config.c_str(), on_progress, &t, &r);
      const auto end = Timing::clock::now();
      if (st == PCOMP_OK) {
        int n_tok = 0;
        pcomp_result_tokens(r, &n_tok);
        const JsonValue trace = json_parse(pcomp_result_trace(r), std::strlen(pcomp_result_trace(r)));
        const JsonValue* peak_cache = trace.get("peakCacheBytes");
        const JsonValue* kept_v = trace.get("keptChunks");
        const double prefill_s = std::chrono::duration<double>((t.decoding ? t.first_decode : end) - t.start).count();
        const double decode_s = t.decoding ? std::chrono::duration<double>(end - t.first_decode).count() : 0.0;
        const double tok_s = n_tok > 1 && decode_s > 0 ? (n_tok - 1) / decode_s : 0.0;
        const double peak = weights_gib + (peak_cache ? peak_cache->num : 0.0) / double(1ull << 30);
        std::string kept;
        if (kept_v)
          for (const auto& k : kept_v->arr) kept += (kept.empty() ? "" : ",") + std::to_string(int(k.num));
        std::snprintf(line, sizeof line,
                      "{\"card\":\"%s\",\"mode\":\"%s\",\"context\":%d,\"chunks\":%d,\"kept\":[%s],\"prefill_s\":%.3f,"
                      "\"peak_gib\":%.3f,\"decode_tokens\":%d,\"decode_tok_s\":%.2f,\"seed\":%llu}",
                      card.c_str(), mode.c_str(), L, int(chunks.size()), kept.c_str(), prefill_s, peak, n_tok, tok_s,
                      (unsigned long long)args.seed);
        const std::string vs_paper =
            L == 131072 && mode != "full" ? std::to_string(PAPER_PREFILL_128K_S / prefill_s).substr(0, 5) + "x" : "";
        std::snprintf(row, sizeof row, "| %s | %d | %d | %.2f | %.2f | %.1f | %s |", mode.c_str(), L, int(chunks.size()),
                      prefill_s, peak, tok_s, vs_paper.c_str());
        pcomp_result_free(r);
      } else {
        ++failures;
        std::string msg = pcomp_last_error();
        std::replace(msg.begin(), msg.end(), '"', '\'');
        std::snprintf(line, sizeof line, "{\"card\":\"%s\",\"mode\":\"%s\",\"context\":%d,\"error\":\"%s\"}", card.c_str(),
                      mode.c_str(), L, msg.substr(0, 400).c_str());
        std::snprintf(row, sizeof row, "| %s | %d | %d | failed: %s | | | |", mode.c_str(), L, int(chunks.size()),
                      msg.substr(0, 120).c_str());
      }
      std::printf("%s\n", line);
      std::fflush(stdout);
      emit(jf, line);
      emit(mf, row);
    }
  }
  pcomp_session_free(session);
  if (jf) std::fclose(jf);
  if (mf) std::fclose(mf);
  return failures ? 1 : 0;
}
