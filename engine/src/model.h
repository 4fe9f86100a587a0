// A loaded model: its config (from config.json) and its weights. Norms, biases and the embedding
// table are f32; the projection matrices (and the output head) are stored f32 or bf16, chosen at
// load: memory-mapped when the file already holds that dtype (and is aligned), converted once
// otherwise. bf16 halves the memory and the bytes each decode step reads; kernels accumulate in f32.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "safetensors.h"

namespace pcomp {

enum class RopeType { Default, Linear, Dynamic, Llama3, Yarn, LongRope };

struct ModelConfig {
  std::string architecture;  // LlamaForCausalLM | MistralForCausalLM | Qwen2ForCausalLM | Qwen3ForCausalLM | Phi3ForCausalLM
  int dim = 0, hidden = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0, vocab = 0;
  int max_pos = 0;           // max_position_embeddings: the trained window
  float eps = 1e-5f;
  double rope_theta = 10000.0;
  RopeType rope_type = RopeType::Default;
  double rope_factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
  int orig_max_pos = 0;      // llama3, yarn: original_max_position_embeddings
  // yarn (transformers' _compute_yarn_parameters): the correction range from beta_fast/beta_slow
  // over original_max_position_embeddings (floor/ceil unless truncate is false) and the factor that
  // multiplies cos and sin (attention_factor, or from mscale / mscale_all_dim, or 0.1 ln(factor) + 1).
  double beta_fast = 32.0, beta_slow = 1.0;
  bool yarn_truncate = true;
  double attn_factor = 1.0;  // multiplies q and k after RoPE (yarn, longrope; 1 for every other rope type)
  // longrope (Phi-3): per-pair divisors of the frequencies, short while max position + 1 of a call
  // is <= original_max_position_embeddings, long past it.
  std::vector<double> short_factor, long_factor;
  // Rotated dimensions per head: int(head_dim * partial_rotary_factor) (Phi-3), else head_dim. When
  // smaller, the loader permutes q/k rows inside each head so the rope op's pairs (i, i + head_dim/2)
  // are HF's (i, i + rot_dim/2) and the unrotated dims get frequency 0 (dot products unchanged).
  int rot_dim = 0;
  bool fused = false;        // Phi-3: qkv_proj and gate_up_proj (split at load)
  bool tied = false;
  bool qkv_bias = false;     // q/k/v_proj.bias: Qwen2 always; Llama when attention_bias
  bool o_bias = false;       // o_proj.bias: Llama attention_bias
  bool mlp_bias = false;     // gate/up/down_proj.bias: Llama mlp_bias
  bool qk_norm = false;      // q_norm/k_norm: RMSNorm over head_dim per head before RoPE (Qwen3)
  int sliding_window = 0;    // 0: none
  int bos = -1;
  std::vector<int> eos;
  std::string torch_dtype;
};

struct LayerWeights {
  const float *attn_norm = nullptr, *ffn_norm = nullptr;
  const float *q_norm = nullptr, *k_norm = nullptr;  // [head_dim] (Qwen3)
  Weight wq, wk, wv, wo, w_gate, w_up, w_down;
  const float *bq = nullptr, *bk = nullptr, *bv = nullptr;
  const float *bo = nullptr, *b_gate = nullptr, *b_up = nullptr, *b_down = nullptr;
};

// How the projection matrices are stored. Auto: bf16 when the file holds bf16, f32 otherwise.
enum class WeightStorage { Auto, F32, BF16 };
// The PCOMP_WEIGHTS environment variable (f32 | bf16 | auto, unset = auto); throws EngineError
// naming the variable for any other value.
WeightStorage weight_storage_from_env();

struct Model {
  std::string dir;
  ModelConfig cfg;
  std::vector<LayerWeights> layers;
  const float* embed = nullptr;    // [vocab, dim]
  const float* norm = nullptr;     // [dim]
  Weight lm_head;                  // [vocab, dim] (the embedding's data when tied)
  std::string weight_dtype;        // dtype found in the files
  std::string storage_dtype;       // "f32" or "bf16": how the matrices are held
  size_t weight_bytes = 0;         // bytes of weights in use, as stored
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  std::vector<std::vector<float>> owned;          // converted f32 tensors
  std::vector<std::vector<uint16_t>> owned_bf16;  // converted bf16 matrices
};

// Loads dir/config.json and dir/model.safetensors (or the sharded index). Throws EngineError whose
// message names the file and the field or tensor at fault. The one-argument form reads PCOMP_WEIGHTS.
// Strict: every tensor in the checkpoint is used (an unknown or unexpected one is refused by name),
// the layer count in the files equals num_hidden_layers, and a sharded index agrees with its shards.
// Config fields that would change the forward pass and are not implemented are refused by name
// (docs/models.md, "Config fields").
std::unique_ptr<Model> load_model(const std::string& dir, WeightStorage storage);
std::unique_ptr<Model> load_model(const std::string& dir);

// Parses a config.json document (exposed for tests).
ModelConfig parse_config(const std::string& text, const std::string& path);

}  // namespace pcomp
