// Token embedding lookup: out[t, :] = embed[tokens[t], :] widened to f32. CPU twin: the copy at the
// top of forward() (engine/src/forward.cpp). Token ids are checked on the host before the call.
#pragma once
#include "common.cuh"

#define PCOMP_EMBEDDING_BLOCK_SIZE 256

namespace pcomp {
namespace cuda {
// embed: [vocab, D] bf16; tokens: [T] device ids; out: [T, D] f32.
void embedding_bf16(float* out, const bf16* embed, const int32_t* tokens, int T, int D, cudaStream_t stream);
// embed: [vocab, D] f32 (the CUDA forward keeps the table in f32, as the CPU forward does).
void embedding_f32(float* out, const float* embed, const int32_t* tokens, int T, int D, cudaStream_t stream);
}  // namespace cuda
}  // namespace pcomp
