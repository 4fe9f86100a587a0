// KV compaction and concatenation on the device: copies chosen rows of every KV head of a bf16
// cache into another cache, out of place (an in-place gather with ascending indices would race).
// CPU twin: KVCache::gather / KVCache::concat (engine/src/kv_cache.cpp).
#pragma once
#include "common.cuh"

#define PCOMP_KV_COMPACT_BLOCK_SIZE 256

namespace pcomp {
namespace cuda {

// For each KV head h < n_kv and i < count:
//   dst_{k,v}[h * dst_head_stride + (dst_row0 + i) * hd] = src_{k,v}[h * src_head_stride + s(h, i) * hd]
// where s(h, i) = keep[h * ld_keep + i] (device array), or src_row0 + i when keep is null.
void kv_gather(bf16* dst_k, bf16* dst_v, long long dst_head_stride, int dst_row0, const bf16* src_k, const bf16* src_v,
               long long src_head_stride, int src_row0, const int32_t* keep, int ld_keep, int count, int n_kv, int hd,
               cudaStream_t stream);

// Writes the rows a selection always keeps around its chosen middle, per KV head h < n_kv:
// keep[h * ld + i] = i for i < head, and keep[h * ld + head + mid + i] = tail_start + i for i < tail.
void kv_keep_edges(int32_t* keep, int ld, int n_kv, int head, int mid, int tail_start, int tail, cudaStream_t stream);

// dst rows [row0, row0 + n) of one head (bf16) = src rows t (f32, src + t * src_stride, hd values).
void kv_write_f32(bf16* dst, int row0, const float* src, size_t src_stride, int n, int hd, cudaStream_t stream);

#define PCOMP_KV_MAX_HEADS 64

// Destination row of the first new token in each KV head (heads may differ after eviction).
struct KvRows {
  int row0[PCOMP_KV_MAX_HEADS];
};

// Appends n new tokens' K/V (k_new, v_new: [n, n_kv * hd] f32, RoPE applied to k) to a bf16 cache:
// token t of head h goes to row rows.row0[h] + t of head h (dst + h * head_stride).
void kv_append_f32(bf16* dst_k, bf16* dst_v, long long head_stride, const KvRows& rows, const float* k_new,
                   const float* v_new, int n, int n_kv, int hd, cudaStream_t stream);

}  // namespace cuda
}  // namespace pcomp
