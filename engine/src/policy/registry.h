// The policy registry: every stage method by the key the config's `pipeline` names it with
// (`<stage>-<method>`, also its file name here), and the knob-valued sub-methods (scorers, pooling,
// regions) by their knob values. Unknown names are errors that name the key.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "../forward.h"
#include "config.h"

namespace pcomp {
struct RunContext;
struct ChunkRun;
struct CalibHook;

struct Stage {
  const char* key;
  // rope-*: the RoPE the run uses; total_length (prompt + eval + maxNew) sets the auto factor.
  RopeParams (*rope)(const PolicyConfig& cfg, const ModelConfig& m, int total_length) = nullptr;
  // chunk-prefill / full-prefill: drives the run (calls the other stages of the plan).
  void (*drive)(RunContext& ctx) = nullptr;
  // chunk-evict-*: after each prefill wave, frees the chunks that fall out of the running top k;
  // `alive` holds the surviving chunks, best first.
  void (*prune)(RunContext& ctx, std::vector<ChunkRun>& runs, std::vector<int>& alive, int k) = nullptr;
  // kv-evict-*: inside a chunk's forward, per layer, picks the entries that chunk keeps.
  void (*select)(RunContext& ctx, ChunkRun& run, int layer, View q, int n_q, int seq, int min_chunk) = nullptr;
  // attn-calib-*: one rule at one layer of the question re-encoding, before attention.
  void (*calibrate)(CalibHook& hook, const CalibRule& rule, int layer, View q, int n_q, KVCache& cache,
                    int seq) = nullptr;
  // global-reencode: the kept chunks become one cache; the question is re-encoded; decoding follows.
  void (*global)(RunContext& ctx, std::vector<ChunkRun>& runs, const std::vector<int>& kept) = nullptr;
  // cache-streaming: the prompt the cache holds.
  std::vector<int32_t> (*cache_prompt)(const RunContext& ctx, const std::vector<int32_t>& prompt) = nullptr;
  // ... and, before each decoding step, frees a slot when it is full; returns the next position.
  int (*cache_roll)(RunContext& ctx, int seq) = nullptr;
  // cache-snapkv: per cache set, the prompt entries kept after the prefill (chosen inside it, per layer).
  std::vector<std::vector<int32_t>> (*cache_select)(const RunContext& ctx, int layer, View q, int n_q,
                                                    int seq) = nullptr;
  // attn-dca: the position a prompt/eval/decode token at absolute index p enters at, and the hook
  // that replaces the attention of every layer (made once per run, owned by the caller).
  int32_t (*position)(const RunContext& ctx, int p) = nullptr;
  std::unique_ptr<LayerHook> (*attn_hook)(RunContext& ctx) = nullptr;
};

// The registry entry for `key`; EngineError naming it when there is none.
const Stage& find_stage(const std::string& key);

// Sub-methods selected by knob values.
using ChunkScorer = double (*)(const std::vector<double>& nll);          // chunkEvict.score
ChunkScorer find_chunk_scorer(const std::string& name);
using Pooling = std::vector<double> (*)(const std::vector<double>& raw, int kernel);  // *.pooling
Pooling find_pooling(const std::string& name);
using RegionTest = bool (*)(int p, int n, int sink, int recent, bool strict);  // calib.rules[].region
RegionTest find_region(const std::string& name);

// Definitions, one file per stage.
RopeParams rope_ntk(const PolicyConfig&, const ModelConfig&, int);
RopeParams rope_dynamic_ntk(const PolicyConfig&, const ModelConfig&, int);
RopeParams rope_linear(const PolicyConfig&, const ModelConfig&, int);
RopeParams rope_yarn(const PolicyConfig&, const ModelConfig&, int);
void chunk_prefill(RunContext& ctx);
void full_prefill(RunContext& ctx);
int32_t attn_dca_position(const RunContext& ctx, int p);
std::unique_ptr<LayerHook> attn_dca_hook(RunContext& ctx);
void chunk_evict_selfinfo(RunContext& ctx, std::vector<ChunkRun>& runs, std::vector<int>& alive, int k);
void kv_evict_cumattn(RunContext& ctx, ChunkRun& run, int layer, View q, int n_q, int seq, int min_chunk);
void attn_calib_bias(CalibHook& hook, const CalibRule& rule, int layer, View q, int n_q, KVCache& cache, int seq);
void global_reencode(RunContext& ctx, std::vector<ChunkRun>& runs, const std::vector<int>& kept);
double score_mean_nll(const std::vector<double>& nll);
double score_reference_sum(const std::vector<double>& nll);
std::vector<double> pool_max(const std::vector<double>& raw, int kernel);
std::vector<double> pool_avg(const std::vector<double>& raw, int kernel);
bool region_sink(int p, int n, int sink, int recent, bool strict);
bool region_recent(int p, int n, int sink, int recent, bool strict);
bool region_middle(int p, int n, int sink, int recent, bool strict);
bool region_all(int p, int n, int sink, int recent, bool strict);
}  // namespace pcomp
