// The device interface of the engine: a struct of function pointers, one per op. The forward pass
// and the policies call only these. CPU (backend/cpu) is always built; CUDA (cuda/) when nvcc is
// found. `supports(op)` lets a backend decline an op, which then runs on the CPU twin.
// All tensors are row-major f32 in host-visible memory unless a backend documents otherwise; weight
// matrices may also be bf16 (see Weight).
#pragma once
#include <cstddef>
#include <cstdint>

namespace pcomp {

// A weight matrix as the model stores it: f32, or bf16 (the upper 16 bits of an f32) that kernels
// widen to f32 in registers and accumulate in f32. bf16 halves the bytes a decode step streams.
enum class WeightType : uint8_t { F32, BF16 };
struct Weight {
  const void* data = nullptr;
  WeightType type = WeightType::F32;
  Weight() = default;
  Weight(const float* p) : data(p) {}  // implicit, so f32 callers pass a plain pointer
  static Weight from_bf16(const uint16_t* p) {
    Weight w;
    w.data = p;
    w.type = WeightType::BF16;
    return w;
  }
  const float* f32() const { return type == WeightType::F32 ? static_cast<const float*>(data) : nullptr; }
  const uint16_t* bf16() const { return type == WeightType::BF16 ? static_cast<const uint16_t*>(data) : nullptr; }
};

enum class Op { MatMul, RmsNorm, Rope, Attention, SiluMul, Add, LogSoftmaxPick, Count };

// Attention of n_q new queries of one sequence over that sequence's cache for one layer.
// KV head h holds kv_len[h] entries; its last n_q entries are the new tokens, in order, so query i
// sees entries [0, kv_len[h] - n_q + i] (causal by cache order, not by position id).
struct AttentionArgs {
  int n_q = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0;
  const float* q = nullptr;             // [n_q, n_heads*head_dim], RoPE applied
  float* out = nullptr;                 // [n_q, n_heads*head_dim]
  const float* const* k = nullptr;      // per KV head: [kv_len[h], head_dim]
  const float* const* v = nullptr;      // per KV head: [kv_len[h], head_dim]
  const int* kv_len = nullptr;          // per KV head
  float scale = 1.0f;                   // usually 1/sqrt(head_dim)
  int sliding_window = 0;               // 0: none; else query i sees only the last `sliding_window` entries
};

struct Backend {
  const char* name;
  bool (*supports)(Op op);
  // y[t, n] = sum_k x[t, k] * w[n, k] + (bias ? bias[n] : 0); w is an nn.Linear weight [N, K], f32 or bf16.
  void (*matmul)(float* y, const float* x, Weight w, const float* bias, int T, int N, int K);
  // out[t, :] = x[t, :] / sqrt(mean(x[t, :]^2) + eps) * w
  void (*rmsnorm)(float* out, const float* x, const float* w, int T, int D, float eps);
  // In-place rotate_half RoPE on x[t, h*hd .. (h+1)*hd) with angle pos[t] * inv_freq[i].
  void (*rope)(float* x, const int32_t* pos, const float* inv_freq, int T, int n_heads, int head_dim);
  // Tiled online-softmax attention (never materialises the score matrix).
  void (*attention)(const AttentionArgs& a);
  // gate[i] = silu(gate[i]) * up[i]
  void (*silu_mul)(float* gate, const float* up, size_t n);
  // x[i] += y[i]
  void (*add)(float* x, const float* y, size_t n);
  // For each row t: out_logprob[t] = log_softmax(logits[t, :])[target[t]]; out_argmax[t] = argmax (may be null).
  void (*log_softmax_pick)(const float* logits, const int32_t* target, float* out_logprob, int32_t* out_argmax,
                           int T, int V);
};

const Backend& cpu_backend();
// The CUDA backend, or nullptr when it was not compiled in or no GPU is usable; `why` explains.
const Backend* cuda_backend(const char** why);

}  // namespace pcomp
