// Attention over bf16 KV caches on KV heads, for a batch of sequences in one launch.
// CPU twin: cpu_attention (one sequence per call; this batches many, e.g. every chunk of a sample).
//
// Item s brings n_q new queries (rows q_row0 .. q_row0+n_q-1 of q and out, [rows, n_heads*head_dim]
// f32, RoPE applied) of one sequence; its cache for this layer holds lens[len_off + h] entries in KV
// head h, whose last n_q are the new tokens, so query i sees entries [first, len - n_q + i] with
// first = 0, or len - n_q + i - window + 1 under a sliding window (causal by cache order, as the
// CPU twin). K/V of KV head h start at k + h * head_stride ([len, head_dim] rows, bf16).
//
// GQA-native: the `group` query heads of a KV head are packed as extra rows of one tile
// (row p = token * group + head-in-group), so each K/V tile is read once for all of them and the
// cache is never expanded to query heads.
//
// Kernels (attention_batch picks one):
//   flash (attention.cu): head_dim 64 or 128; 64 packed rows x 64 keys per step on the tensor cores,
//     online softmax, no score matrix beyond one 64x64 tile in shared memory.
//   split (decode_attention.cu): one warp per packed row, keys split along the sequence into
//     independent blocks whose partial softmax states are merged after: one decode query still
//     fills the GPU. Also the path for head sizes the flash kernel does not cover.
#pragma once
#include <vector>

#include "common.cuh"
#include "device_memory.cuh"

#define PCOMP_ATTENTION_FLASH_ROWS 64
#define PCOMP_ATTENTION_FLASH_KEYS 64
#define PCOMP_ATTENTION_FLASH_BLOCK_SIZE 128
#define PCOMP_ATTENTION_SPLIT_ROWS 4      // packed rows (warps) per block of the split kernel
#define PCOMP_ATTENTION_SPLIT_KEYS 256    // keys per split when a batch is decode-shaped
#define PCOMP_ATTENTION_MAX_HEAD_DIM 256

namespace pcomp {
namespace cuda {

struct AttnItem {
  int q_row0 = 0, n_q = 0;
  const bf16* k = nullptr;
  const bf16* v = nullptr;
  long long head_stride = 0;  // elements from one KV head to the next
  // When set (device arrays of n_kv_heads pointers): KV head h's rows start at k_heads[h], v_heads[h]
  // (the engine's cache keeps one backend buffer per (layer, set)); k, v, head_stride are then unused.
  const bf16* const* k_heads = nullptr;
  const bf16* const* v_heads = nullptr;
  int len_off = 0;            // this item's KV head lengths are lens[len_off .. len_off + n_kv_heads)
};

struct AttnParams {
  const float* q = nullptr;
  float* out = nullptr;
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float scale = 1.f;
  int sliding_window = 0;
};

// Device copies of the batch description, reused across calls so decoding allocates nothing.
struct AttentionWorkspace {
  DevBuf<AttnItem> items;
  DevBuf<int> lens;
  DevBuf<int2> tiles;        // (item, tile index within the item)
  DevBuf<float> part_o;      // split kernel: unnormalised partial outputs
  DevBuf<float2> part_ml;    // split kernel: partial (max, sum)
  std::vector<int2> host_tiles;
};

enum class AttnKernel { Auto, Flash, Split };

// items and lens are host arrays (n_items and n_items * n_kv_heads entries); they are copied to
// the workspace. Rows of q/out not named by any item are left untouched.
void attention_batch(const AttnParams& p, const AttnItem* items, int n_items, const int* lens, AttentionWorkspace& ws,
                     cudaStream_t stream, AttnKernel kernel = AttnKernel::Auto);

// True when the flash kernel handles this head size.
bool attention_flash_supports(int head_dim);

}  // namespace cuda
}  // namespace pcomp
