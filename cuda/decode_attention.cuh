// Attention split along the sequence (flash-decoding): see attention.cuh for the batch layout.
// Used for decode steps (few packed rows, long caches) and for head sizes the flash kernel skips.
// CPU twin: cpu_attention.
#pragma once
#include "attention.cuh"

namespace pcomp {
namespace cuda {
// The device copies in `ws` (items, lens) must already hold the batch; tiles are rebuilt here.
// split_keys = 0 means one split (no merge pass).
void decode_attention_batch(const AttnParams& p, const AttnItem* items, int n_items, const int* lens,
                            AttentionWorkspace& ws, int split_keys, cudaStream_t stream);
}  // namespace cuda
}  // namespace pcomp
