// What the policy stages share while one sample runs: the model, the run's own KV cache, the
// resolved config, the RoPE in force, and the trace being filled. Stage functions live one per file
// (<stage>-<method>.cpp) and are looked up by config name in registry.cpp.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "../../include/pcomp.h"
#include "../backend/backend.h"
#include "../forward.h"
#include "../kv_cache.h"
#include "../model.h"
#include "config.h"
#include "registry.h"

namespace pcomp {

// Where a cache entry came from: chunk c's input index i; chunk -1 = re-encoded question token.
struct Origin {
  int chunk, index;
};
// [layer * sets + set] -> origins of that set's entries, in cache order.
using OriginSets = std::vector<std::vector<Origin>>;

struct RunContext;

// The attention trace (trace.attention, trace-attention.cpp): per layer, the observation rows' mean
// attention per query head folded into position bins ([H][bins]), cache regions ([H][3]: sink,
// middle, recent) and per group regions ([H][3 * groups]; groups = the chunks in cache order, -1 =
// the question).
struct AttnTraceLayer {
  int rows = 0;
  std::vector<int> lens, groups;
  std::vector<double> bins, regions, group_regions;
};
struct AttnTrace {
  bool on = false;
  std::vector<int> chunk_offsets;  // per sample chunk: its first position in the layout
  int question_off = 0, positions = 1;
  std::vector<AttnTraceLayer> layers;
  void begin(const RunContext& ctx, std::vector<int> offsets, int question_offset, int n_positions);
  void to_json(std::ostringstream& o, const PolicyConfig& cfg) const;
};

struct Trace {
  std::string policy, preset;
  int cache_sets = 0;  // KV heads, or query heads when the cache is expanded
  std::vector<int> chunk_lengths, chunk_starts;
  std::vector<double> chunk_scores;
  std::vector<int> kept_chunks, freed_order;
  std::vector<std::vector<std::vector<int32_t>>> kv_kept;  // [kept chunk][layer*sets+set] input indices
  OriginSets global_cache, final_cache;
  int question_start = 0, truncated_from = -1, prompt_length = -1;
  std::vector<int> question_positions, eval_positions, generated_positions;
  std::vector<double> question_nll;  // [i] = NLL of question token i during re-encoding; [0] = NaN (null)
  std::vector<std::pair<int32_t, float>> final_top;       // the prompt's last logits: top 32 (id, logit)
  size_t peak_bytes = 0, bytes_after_prefill = 0, bytes_before_decode = 0;
  AttnTrace attention;
  const PolicyConfig* cfg = nullptr;  // for the attention trace's parameters
  std::string to_json(int n_layers) const;
};

// The stages a run composes, resolved from the config's pipeline keys.
struct Plan {
  const Stage *rope = nullptr, *driver = nullptr, *chunk_evict = nullptr, *kv_evict = nullptr, *calib = nullptr,
              *global = nullptr, *streaming = nullptr, *snapkv = nullptr, *attn = nullptr;
};

struct RunContext {
  const Model& model;
  const ModelWeights& weights;  // the model's tensors on the backend
  const Backend& be;
  KVCache& cache;
  Workspace& ws;
  const PolicyConfig& cfg;
  const pcomp_sample& sample;
  pcomp_session* session;
  pcomp_progress_callback progress;
  void* user;
  Plan plan;
  RopeParams rope;
  Trace trace;
  // outputs
  std::vector<int32_t> tokens;
  std::vector<float> nll;

  int sets() const { return cache.n_kv(); }
  bool expanded() const { return cache.n_kv() != model.cfg.n_kv_heads; }
  // Cache set that query head h reads, and the KV head whose projections fill set s.
  int set_of(int h) const { return expanded() ? h : h / (model.cfg.n_heads / model.cfg.n_kv_heads); }
  int kv_head_of(int s) const { return expanded() ? s / (model.cfg.n_heads / model.cfg.n_kv_heads) : s; }
  // The run's RoPE: the model's, or the rope-* stage's for this total length.
  void set_rope(int total_length) {
    rope = plan.rope ? plan.rope->rope(cfg, model.cfg, total_length) : RopeParams::from_config(model.cfg);
  }
  // attn-*: the hook replacing attention in every forward of the run (null: the backend's attention),
  // and the position the token at absolute index p enters at (p itself without such a stage).
  LayerHook* attn_hook = nullptr;
  int32_t position(int p) const { return plan.attn ? plan.attn->position(*this, p) : p; }
  void poll();  // throws Cancelled when the session's cancel flag is up
  void report(const char* stage, int done, int total) {
    if (progress) progress(user, stage, done, total);
  }
  void run_forward(const std::vector<SeqInput>& items, LogitsMode mode, std::vector<float>* logits, LayerHook* hook);
};

// --- shared between stages --------------------------------------------------------------------

// kv-evict-cumattn.cpp: cumulative-attention (SnapKV-style) selection for one layer of one fresh
// sequence. q: the step's n_q query rows [n_q, n_heads*hd] (post-RoPE); the sequence's cache holds
// exactly the step's tokens. The last `window` rows score candidate keys [cand_start, cand_end);
// per cache set, the `capacity` best pooled candidates (ascending input indices).
struct SnapKVParams {
  int window = 8, kernel = 7, capacity = 0, cand_start = 0, cand_end = 0;
  std::string pooling = "max";
  bool per_query_head = false;  // expanded-heads: one selection per query head (needs an expanded cache)
};
std::vector<std::vector<int32_t>> snapkv_select(const RunContext& ctx, int seq, int layer, View q, int n_q,
                                                const SnapKVParams& p);

// chunk-evict-selfinfo.cpp: the score of one chunk from its question tokens' NLL.
double chunk_score(const std::vector<double>& question_nll, const std::string& mode, int last_n);

// One chunk of the chunked pipeline.
struct ChunkRun {
  int chunk = 0, seq = -1, context_len = 0, input_len = 0;
  bool starts_with_bos = false, alive = false;
  double score = 0;
  std::vector<double> question_nll;
  std::vector<std::vector<int32_t>> kv_keep;  // [layer*sets+set]: input indices to keep (KV eviction on)
};

// attn-calib-*.cpp run inside this hook while the question is re-encoded; it also keeps the origins
// of the global cache in step with every eviction.
struct CalibHook : LayerHook {
  RunContext& ctx;
  OriginSets& origins;
  int first_index = 0;            // the step's tokens are tagged (-1, first_index + i)
  bool run_rules = true;          // calibrate at this step (calib.stage picks re-encoding or chunks)
  // Span of the regions: the cached context before the step (re-encoding), or, inside a chunk's own
  // prefill (context_limit >= 0), its entries [span_start, those with index < context_limit).
  int span_start = 0, context_limit = -1;
  bool custom_mask = false;       // evictions the backend's causal rule cannot follow: attend here
  bool trace = false;             // record the attention trace at this step (the final re-encoding)
  CalibHook(RunContext& c, OriginSets& o) : ctx(c), origins(o) {}
  void before_attention(int layer, int item, View q, int n_q, KVCache& cache, int seq) override;
  bool attention(int layer, int item, const AttentionArgs& a, KVCache& cache, int seq) override;
};
bool visible_by_position(const Origin& o, int first_index, int row);
// The keys row i of the step sees in set s under the hook's mask (the backend's, or the custom one).
int calib_visible(const CalibHook& hook, int layer, int set, int row, int n_q, int len);

// trace-attention.cpp: records one layer of the attention trace (when ctx.trace.attention.on) for
// the step's last trace.window rows; origins: the cache's origins ([layer*sets+set]) or null for a
// whole-prompt sequence (entries' sources are prompt indices); visible(row, set): keys row sees.
void trace_attention_layer(RunContext& ctx, int layer, View q, int n_q, KVCache& cache, int seq,
                           const OriginSets* origins, const std::function<int(int, int)>& visible);

// cache-snapkv.cpp: the snapkv baseline's kept entries per cache set for one layer of the whole
// prompt (the last `window` tokens always kept and counted in the capacity).
std::vector<std::vector<int32_t>> cache_snapkv_select(const RunContext& ctx, int layer, View q, int n_q, int seq);
// cache-streaming.cpp: the prompt StreamingLLM's cache holds: the first `sink` and the last
// `window` tokens, at positions 0.. inside the cache.
std::vector<int32_t> cache_streaming_prompt(const RunContext& ctx, const std::vector<int32_t>& prompt);
// Before a decoding step: when the cache is full, drops the oldest recent entry of every set and
// re-rotates the later keys one position down; returns the position the next token enters at.
int cache_streaming_roll(RunContext& ctx, int seq);
// Moves keys [from, len) of one (layer, set) by `delta` positions (post-RoPE keys, re-rotated by the backend).
void rerotate_keys(const Backend& be, const RopeParams& rope, KVCache& cache, int seq, int layer, int set, int from,
                   int delta);

// decode-greedy.cpp: scores sample.eval_tokens after the prompt, then decodes greedily.
// last_logits: the prompt's last row; next_pos: position of the first token after the prompt.
void eval_and_decode(RunContext& ctx, int seq, std::vector<float> last_logits, int next_pos);

}  // namespace pcomp
