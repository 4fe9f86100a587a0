// A model on the GPU: projection matrices and the output head in bf16 (uploaded once), norms,
// biases and the embedding table in f32 (as the CPU forward keeps them, so token lookups and norms
// agree bit for bit). Built either from a loaded host Model or directly on the device from a
// config and a seed (the benchmark's Llama-3-8B shape never exists on the host).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "../engine/src/forward.h"
#include "../engine/src/model.h"
#include "common.cuh"
#include "device_memory.cuh"

namespace pcomp {
namespace cuda {

struct DeviceLayer {
  const float *attn_norm = nullptr, *ffn_norm = nullptr;
  const bf16 *wq = nullptr, *wk = nullptr, *wv = nullptr, *wo = nullptr;
  const bf16 *w_gate = nullptr, *w_up = nullptr, *w_down = nullptr;
  const float *bq = nullptr, *bk = nullptr, *bv = nullptr;
  const float *bo = nullptr, *b_gate = nullptr, *b_up = nullptr, *b_down = nullptr;  // Llama attention_bias / mlp_bias
};

// rope_inv_freq (engine/src/forward.cpp), handed in by the host code that builds a DeviceModel:
// the CUDA library calls nothing in the core library, so that it links in any order after it.
using InvFreqFn = void (*)(const RopeParams& r, int head_dim, int max_pos_in_call, float* out);

struct DeviceModel {
  ModelConfig cfg;
  RopeParams rope;                  // RopeParams::from_config(cfg) unless a baseline overrides it
  InvFreqFn inv_freq = nullptr;
  std::vector<DeviceLayer> layers;
  const float* embed = nullptr;  // [vocab, dim] f32
  const float* norm = nullptr;   // [dim]
  const bf16* lm_head = nullptr; // [vocab, dim]
  size_t weight_bytes = 0;
  std::vector<DevBuf<float>> f32_store;
  std::vector<DevBuf<bf16>> bf16_store;
};

// Copies every tensor of m to the device; f32 matrices are rounded to bf16 (nearest even), bf16
// ones are copied as they are.
std::unique_ptr<DeviceModel> upload_model(const Model& m, const RopeParams& rope, InvFreqFn inv_freq);

// Seeded random weights generated on the device (normal(0, init_std) matrices, norms near 1);
// the same seed gives the same model on any GPU.
std::unique_ptr<DeviceModel> random_device_model(const ModelConfig& cfg, const RopeParams& rope, InvFreqFn inv_freq,
                                                 uint64_t seed, float init_std = 0.02f);

}  // namespace cuda
}  // namespace pcomp
