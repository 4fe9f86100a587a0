// GPU benchmark: a seeded random Llama-3-8B-shaped model (bf16, generated on the device), `full`
// and ParallelComp prefill at the given context lengths, peak engine-held GPU memory, and decode
// tokens per second. One JSON line and one markdown table row per run, flushed as soon as the run
// ends, so a run killed by a timeout keeps what finished (scripts/gpu-check.sh relies on that).
//
// Built by scripts/gpu-check.sh against build-gpu/libpcomp_{core,cuda}.a:
//   nvcc -O2 -std=c++17 -Iengine/src bench/gpu/bench_gpu.cpp -Xlinker --start-group \
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

#include "../../cuda/cuda_ops.h"
#include "backend/backend.h"
#include "forward.h"

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
  const cuda_ops::OpTable* ops = pcomp_cuda_op_table(&why);
  if (!ops) {
    std::fprintf(stderr, "pcomp_gpu_bench: no GPU: %s\n", why ? why : "?");
    return 3;
  }
  FILE* jf = args.jsonl.empty() ? nullptr : std::fopen(args.jsonl.c_str(), "a");
  FILE* mf = args.md.empty() ? nullptr : std::fopen(args.md.c_str(), "a");
  const std::string card = ops->device_name();
  std::fprintf(stderr, "pcomp_gpu_bench: %s; generating the random model (seed %llu) on the device\n", card.c_str(),
               (unsigned long long)args.seed);
  cuda_ops::DeviceModelHandle* model = ops->model_random(cfg, RopeParams::from_config(cfg), &rope_inv_freq, args.seed);
  std::fprintf(stderr, "pcomp_gpu_bench: weights %.2f GiB on the device\n", ops->model_bytes(model) / double(1ull << 30));

  int failures = 0;
  for (int L : args.lengths) {
    for (const auto& mode : args.modes) {
      cuda::PipelineSample sample;
      cuda::PipelineConfig pc;
      pc.max_new_tokens = args.decode;
      sample.question = random_tokens(QUESTION, cfg.vocab, uint32_t(args.seed * 7919 + 1), cfg.bos);
      int chunks = 1;
      if (mode == "full") {
        pc.parallelcomp = false;
        sample.context = random_tokens(L, cfg.vocab, uint32_t(args.seed * 7919 + 2), cfg.bos);
      } else {
        // The context split evenly into chunks of at most the budget, each starting with BOS.
        chunks = chunk_count(L);
        for (int c = 0; c < chunks; ++c) {
          const int n = L / chunks + (c < L % chunks ? 1 : 0);
          sample.chunks.push_back(random_tokens(n, cfg.vocab, uint32_t(args.seed * 7919 + 100 + c), cfg.bos));
        }
        pc.kv_evict = mode == "parallelcomp-kv";
      }
      std::fprintf(stderr, "pcomp_gpu_bench: %s at %d tokens ...\n", mode.c_str(), L);
      char line[1024], row[512];
      try {
        const cuda::PipelineResult r = ops->pipeline_run(model, sample, pc);
        const double tok_s = r.decode_steps > 0 ? r.decode_steps / r.decode_s : 0.0;
        const double peak = r.peak_bytes / double(1ull << 30);
        std::string kept;
        for (int c : r.kept_chunks) kept += (kept.empty() ? "" : ",") + std::to_string(c);
        std::snprintf(line, sizeof line,
                      "{\"card\":\"%s\",\"mode\":\"%s\",\"context\":%d,\"chunks\":%d,\"kept\":[%s],\"prefill_s\":%.3f,"
                      "\"peak_gib\":%.3f,\"decode_tokens\":%d,\"decode_tok_s\":%.2f,\"seed\":%llu}",
                      card.c_str(), mode.c_str(), L, chunks, kept.c_str(), r.prefill_s, peak, r.decode_steps, tok_s,
                      (unsigned long long)args.seed);
        const std::string vs_paper =
            L == 131072 && mode != "full" ? std::to_string(PAPER_PREFILL_128K_S / r.prefill_s).substr(0, 5) + "x" : "";
        std::snprintf(row, sizeof row, "| %s | %d | %d | %.2f | %.2f | %.1f | %s |", mode.c_str(), L, chunks,
                      r.prefill_s, peak, tok_s, vs_paper.c_str());
      } catch (const std::exception& e) {
        ++failures;
        std::string msg = e.what();
        std::replace(msg.begin(), msg.end(), '"', '\'');
        std::snprintf(line, sizeof line, "{\"card\":\"%s\",\"mode\":\"%s\",\"context\":%d,\"error\":\"%s\"}", card.c_str(),
                      mode.c_str(), L, msg.substr(0, 400).c_str());
        std::snprintf(row, sizeof row, "| %s | %d | %d | failed: %s | | | |", mode.c_str(), L, chunks,
                      msg.substr(0, 120).c_str());
      }
      std::printf("%s\n", line);
      std::fflush(stdout);
      emit(jf, line);
      emit(mf, row);
    }
  }
  ops->model_free(model);
  if (jf) std::fclose(jf);
  if (mf) std::fclose(mf);
  return failures ? 1 : 0;
}
