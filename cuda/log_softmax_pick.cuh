// Per row t of logits [T, V]: out_logprob[t] = log_softmax(row)[target[t]] (0 where target < 0) and
// out_argmax[t] = the first index of the row's maximum. CPU twin: cpu_log_softmax_pick.
// Callers produce logits for a block of rows at a time, so full-vocabulary logits never exist for
// every position of a long prefill.
#pragma once
#include "common.cuh"

#define PCOMP_LOG_SOFTMAX_PICK_BLOCK_SIZE 512

namespace pcomp {
namespace cuda {
// target, out_logprob and out_argmax may each be null.
void log_softmax_pick_f32(const float* logits, const int32_t* target, float* out_logprob, int32_t* out_argmax, int T,
                          int V, cudaStream_t stream);
}  // namespace cuda
}  // namespace pcomp
