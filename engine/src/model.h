// A loaded model: its config (from config.json) and f32 weights (memory-mapped when the file is
// f32 and aligned, converted once at load otherwise).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "safetensors.h"

namespace pcomp {

enum class RopeType { Default, Linear, Dynamic, Llama3 };

struct ModelConfig {
  std::string architecture;  // LlamaForCausalLM | MistralForCausalLM | Qwen2ForCausalLM
  int dim = 0, hidden = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0, vocab = 0;
  int max_pos = 0;           // max_position_embeddings: the trained window
  float eps = 1e-5f;
  double rope_theta = 10000.0;
  RopeType rope_type = RopeType::Default;
  double rope_factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
  int orig_max_pos = 0;      // llama3: original_max_position_embeddings
  bool tied = false;
  bool qkv_bias = false;
  int sliding_window = 0;    // 0: none
  int bos = -1;
  std::vector<int> eos;
  std::string torch_dtype;
};

struct LayerWeights {
  const float *attn_norm = nullptr, *wq = nullptr, *wk = nullptr, *wv = nullptr, *wo = nullptr;
  const float *bq = nullptr, *bk = nullptr, *bv = nullptr;
  const float *ffn_norm = nullptr, *w_gate = nullptr, *w_up = nullptr, *w_down = nullptr;
};

struct Model {
  std::string dir;
  ModelConfig cfg;
  std::vector<LayerWeights> layers;
  const float* embed = nullptr;    // [vocab, dim]
  const float* norm = nullptr;     // [dim]
  const float* lm_head = nullptr;  // [vocab, dim] (== embed when tied)
  std::string weight_dtype;        // dtype found in the files
  size_t weight_bytes = 0;         // bytes of f32 weights in use
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  std::vector<std::vector<float>> owned;  // converted tensors
};

// Loads dir/config.json and dir/model.safetensors (or the sharded index). Throws EngineError whose
// message names the file and the field or tensor at fault.
std::unique_ptr<Model> load_model(const std::string& dir);

// Parses a config.json document (exposed for tests).
ModelConfig parse_config(const std::string& text, const std::string& path);

}  // namespace pcomp
