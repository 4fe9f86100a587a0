// The forward pass over a batch of sequences that each bring new tokens with explicit position
// ids. All tokens of the batch go through the matrix products together; attention runs per
// sequence against that sequence's cache.
#pragma once
#include <atomic>
#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "kv_cache.h"
#include "model.h"

namespace pcomp {

struct RopeParams {
  RopeType type = RopeType::Default;
  bool ntk_static = false;    // NTK-aware: theta * factor^(d/(d-2)), independent of length
  double theta = 10000.0, factor = 1.0, low_freq_factor = 1.0, high_freq_factor = 4.0;
  int orig_max_pos = 0, max_pos = 0;
  double beta_fast = 32.0, beta_slow = 1.0;  // yarn
  bool yarn_truncate = true;
  double attn_factor = 1.0;                  // multiplies q and k after RoPE (yarn's / longrope's attention factor)
  const std::vector<double>* short_factor = nullptr;  // longrope
  const std::vector<double>* long_factor = nullptr;
  int rot_dim = 0;                           // 0: head_dim; else only the first rot_dim/2 pairs turn (the rest 0)
  static RopeParams from_config(const ModelConfig& c);
};

// inv_freq for a forward whose largest position id is max_pos_in_call (dynamic NTK depends on it).
void rope_inv_freq(const RopeParams& r, int head_dim, int max_pos_in_call, float* out);

struct SeqInput {
  int seq = -1;
  const int32_t* tokens = nullptr;
  const int32_t* positions = nullptr;
  int n = 0;
  const int32_t* targets = nullptr;  // optional: per new token, the id whose log-prob is wanted (-1: none)
  float* target_logprob = nullptr;   // [n], written where targets[i] >= 0
};

// The model's tensors as backend buffers, made once per loaded model: on the CPU they point at the
// host weights (no copy); a device backend holds its own copy in its dtype.
struct DeviceLayer {
  Buffer *attn_norm = nullptr, *ffn_norm = nullptr;
  Buffer *q_norm = nullptr, *k_norm = nullptr;  // Qwen3
  DeviceWeight wq, wk, wv, wo, w_gate, w_up, w_down;
  Buffer *bq = nullptr, *bk = nullptr, *bv = nullptr;
  Buffer *bo = nullptr, *b_gate = nullptr, *b_up = nullptr, *b_down = nullptr;  // Llama attention_bias / mlp_bias
};
struct ModelWeights {
  ModelWeights(const Model& m, const Backend& be);
  ~ModelWeights();
  ModelWeights(const ModelWeights&) = delete;
  ModelWeights& operator=(const ModelWeights&) = delete;
  const Model& model;
  const Backend& be;
  std::vector<DeviceLayer> layers;
  DeviceWeight embed, lm_head;
  Buffer* norm = nullptr;
};

// Hooks let a policy see inside a layer. Called once per (layer, sequence) after the new K/V are
// appended and before attention; the hook may evict entries from that sequence's cache (not
// the new tokens, which are the last n_q entries of each head). q: the item's query rows
// [n_q, n_heads*head_dim] (f32 backend view, RoPE applied).
struct LayerHook {
  virtual ~LayerHook() = default;
  virtual void before_attention(int layer, int item, View q, int n_q, KVCache& cache, int seq) {
    (void)layer; (void)item; (void)q; (void)n_q; (void)cache; (void)seq;
  }
  // Called instead of the backend's attention for that item when it returns true (the hook wrote
  // the item's out): for masks the backend's bottom-right causal rule cannot express, e.g. after
  // new tokens were evicted. `a` holds this one item.
  virtual bool attention(int layer, int item, const AttentionArgs& a, KVCache& cache, int seq) {
    (void)layer; (void)item; (void)a; (void)cache; (void)seq;
    return false;
  }
};

enum class LogitsMode { None, Last, All };

struct ForwardOptions {
  LogitsMode logits = LogitsMode::Last;
  std::vector<float>* logits_out = nullptr;  // Last: [n_items, V]; All: [sum n, V] (downloaded)
  LayerHook* hook = nullptr;
  const RopeParams* rope = nullptr;          // overrides the model's RoPE (baselines)
  const std::atomic<int>* cancel = nullptr;  // non-zero: throw Cancelled between layers
};

// Scratch reused across calls, so decoding allocates nothing per token: backend buffers for the
// activations, host arrays for what the host plans (positions, RoPE tables, per-item head lists).
struct Workspace {
  DeviceArray x, xn, q, k, v, att, gate, up, logits, pos, inv_freq, tokens;
  DeviceArray lp_x, lp_targets, lp_out;       // one block of target log-prob rows
  std::vector<int32_t> pos_h, tokens_h;
  std::vector<float> inv_freq_h;
  std::vector<Buffer*> kp, vp;                // per item and cache set: K/V buffers for attention
  std::vector<int> lens;                      // per item and cache set: lengths
  std::vector<AttentionItem> items, batch;
  std::vector<int32_t> lp_rows, lp_targets_h; // target log-prob rows of one item, one block's targets
  std::vector<float> lp_h;
};

void forward(const ModelWeights& mw, KVCache& cache, const std::vector<SeqInput>& items, const ForwardOptions& opt,
             Workspace& ws);

}  // namespace pcomp
