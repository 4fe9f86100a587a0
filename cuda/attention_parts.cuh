// Attention over parts (Dual Chunk Attention): one softmax over the union of P parts, part p's query
// rows seeing keys [lo, hi) of each head's KV set. CPU twin: cpu::attention_parts
// (engine/src/backend/cpu/attention_parts.cpp); backend.h's AttentionPartsArgs documents the op.
#pragma once
#include "common.cuh"

#define PCOMP_ATTN_PARTS_MAX_HEAD_DIM 256

namespace pcomp {
namespace cuda {
// q: device array of P pointers, each [n_q, n_heads, head_dim] f32; lo/hi: device [P * n_q];
// k/v: device arrays of n_heads pointers (head h's set), rows [.., head_dim] bf16; out [n_q, n_heads, head_dim].
void attention_parts(const float* const* q, int n_parts, const int32_t* lo, const int32_t* hi, const bf16* const* k,
                     const bf16* const* v, int n_q, int n_heads, int head_dim, float scale, float* out,
                     cudaStream_t stream);
}  // namespace cuda
}  // namespace pcomp
