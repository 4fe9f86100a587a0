// Attention split along the sequence (layout in attention.cuh).
//
// Block = PCOMP_ATTENTION_SPLIT_ROWS warps x one KV head x one key split. Each warp owns one packed
// row (query token, head in group): 32 keys at a time, lane j scores key j (its q is in shared
// memory, so every lane reads the same q element at once), the warp updates its online-softmax
// state, then each lane accumulates its head_dim/32 output dimensions over the 32 keys with the
// probabilities broadcast by shuffles. With more than one split, each split writes an unnormalised
// partial (max, sum, acc) and attention_split_merge combines them exactly.
#include <algorithm>

#include "decode_attention.cuh"

namespace pcomp {
namespace cuda {

namespace {
constexpr int WARPS = PCOMP_ATTENTION_SPLIT_ROWS;
constexpr int MAXD = PCOMP_ATTENTION_MAX_HEAD_DIM;
constexpr int PER_LANE = MAXD / 32;
}  // namespace

static __global__ void __launch_bounds__(WARPS * 32)
    attention_split_kernel(AttnParams p, const AttnItem* items, const int2* tiles, const int* lens, int split_keys,
                           int n_splits, float* part_o, float2* part_ml) {
  __shared__ float qs[WARPS][MAXD];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int2 tile = tiles[blockIdx.x];
  const AttnItem it = items[tile.x];
  const int kvh = blockIdx.y, split = blockIdx.z;
  const int hd = p.head_dim, group = p.n_heads / p.n_kv_heads;
  const int prow = tile.y * WARPS + warp;
  if (prow >= it.n_q * group) return;  // no block barrier below, so idle warps may leave
  const int len = lens[it.len_off + kvh];
  const int i = prow / group, head = kvh * group + prow % group;
  const int ld = p.n_heads * hd;
  const float* q = p.q + size_t(it.q_row0 + i) * ld + size_t(head) * hd;
  for (int d = lane; d < hd; d += 32) qs[warp][d] = q[d];
  __syncwarp();

  const int last = len - it.n_q + i;
  const int first = p.sliding_window > 0 ? max(0, last - p.sliding_window + 1) : 0;
  int lo = first, hi = last;  // inclusive key range of this split
  if (split_keys > 0) {
    lo = max(first, split * split_keys);
    hi = min(last, (split + 1) * split_keys - 1);
  }
  const bf16* K = it.k_heads ? it.k_heads[kvh] : it.k + kvh * it.head_stride;
  const bf16* V = it.v_heads ? it.v_heads[kvh] : it.v + kvh * it.head_stride;
  const bool vec = (hd % 8) == 0;

  float m = -INFINITY, l = 0.f;
  float acc[PER_LANE];
#pragma unroll
  for (int e = 0; e < PER_LANE; ++e) acc[e] = 0.f;

  for (int j0 = lo; j0 <= hi; j0 += 32) {
    const int j = j0 + lane;
    float s = -INFINITY;
    if (j <= hi) {
      const bf16* kr = K + size_t(j) * hd;
      float dot = 0.f;
      if (vec) {
        for (int d = 0; d < hd; d += 8) {
          float kf[8];
          bf16x8_to_float(*reinterpret_cast<const uint4*>(kr + d), kf);
#pragma unroll
          for (int e = 0; e < 8; ++e) dot += qs[warp][d + e] * kf[e];
        }
      } else {
        for (int d = 0; d < hd; ++d) dot += qs[warp][d] * __bfloat162float(kr[d]);
      }
      s = dot * p.scale;
    }
    const float m_new = fmaxf(m, warp_max(s));
    const float corr = __expf(m - m_new);  // m_new is finite: key j0 is always in range
    const float pr = j <= hi ? __expf(s - m_new) : 0.f;
    l = l * corr + warp_sum(pr);
    m = m_new;
#pragma unroll
    for (int e = 0; e < PER_LANE; ++e) acc[e] *= corr;
    const int n_here = min(32, hi - j0 + 1);
    for (int jj = 0; jj < n_here; ++jj) {
      const float pj = __shfl_sync(0xffffffffu, pr, jj);
      const bf16* vr = V + size_t(j0 + jj) * hd;
#pragma unroll
      for (int e = 0; e < PER_LANE; ++e) {
        const int d = lane + 32 * e;
        if (d < hd) acc[e] += pj * __bfloat162float(vr[d]);
      }
    }
  }

  const size_t row = size_t(it.q_row0 + i) * p.n_heads + head;  // global (token, head) row
  if (n_splits == 1) {
    const float inv = l > 0.f ? 1.f / l : 0.f;
    float* out = p.out + size_t(it.q_row0 + i) * ld + size_t(head) * hd;
#pragma unroll
    for (int e = 0; e < PER_LANE; ++e) {
      const int d = lane + 32 * e;
      if (d < hd) out[d] = acc[e] * inv;
    }
    return;
  }
  float* po = part_o + (row * n_splits + split) * hd;
#pragma unroll
  for (int e = 0; e < PER_LANE; ++e) {
    const int d = lane + 32 * e;
    if (d < hd) po[d] = acc[e];
  }
  if (lane == 0) part_ml[row * n_splits + split] = make_float2(m, l);
}

// One warp per (token, head) row of the batch: out = sum_s acc_s e^(m_s - M) / sum_s l_s e^(m_s - M).
static __global__ void attention_split_merge_kernel(AttnParams p, const AttnItem* items, const int2* rows_of_items,
                                                    int n_splits, const float* part_o, const float2* part_ml) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int2 ir = rows_of_items[blockIdx.x];  // (item, token index)
  const int head = blockIdx.y * (blockDim.x >> 5) + warp;
  if (head >= p.n_heads) return;
  const AttnItem it = items[ir.x];
  const int hd = p.head_dim;
  const size_t row = size_t(it.q_row0 + ir.y) * p.n_heads + head;
  float M = -INFINITY;
  for (int s = 0; s < n_splits; ++s) M = fmaxf(M, part_ml[row * n_splits + s].x);
  float Lsum = 0.f;
  for (int s = 0; s < n_splits; ++s) {
    const float2 ml = part_ml[row * n_splits + s];
    if (ml.x != -INFINITY) Lsum += ml.y * __expf(ml.x - M);
  }
  const float inv = Lsum > 0.f ? 1.f / Lsum : 0.f;
  float* out = p.out + size_t(it.q_row0 + ir.y) * p.n_heads * hd + size_t(head) * hd;
  for (int d = lane; d < hd; d += 32) {
    float o = 0.f;
    for (int s = 0; s < n_splits; ++s) {
      const float2 ml = part_ml[row * n_splits + s];
      if (ml.x != -INFINITY) o += part_o[(row * n_splits + s) * hd + d] * __expf(ml.x - M);
    }
    out[d] = o * inv;
  }
}

void decode_attention_batch(const AttnParams& p, const AttnItem* items, int n_items, const int* lens,
                            AttentionWorkspace& ws, int split_keys, cudaStream_t stream) {
  const int group = p.n_heads / p.n_kv_heads;
  int max_len = 0, total_tokens = 0;
  for (int s = 0; s < n_items; ++s) {
    total_tokens += items[s].n_q;
    for (int h = 0; h < p.n_kv_heads; ++h) max_len = std::max(max_len, lens[size_t(s) * p.n_kv_heads + h]);
  }
  const int n_splits = split_keys > 0 ? std::max(1, ceil_div(max_len, split_keys)) : 1;
  const int used_split_keys = n_splits > 1 ? split_keys : 0;

  ws.host_tiles.clear();
  for (int s = 0; s < n_items; ++s)
    for (int t = 0; t < ceil_div(items[s].n_q * group, WARPS); ++t) ws.host_tiles.push_back(make_int2(s, t));
  if (ws.host_tiles.empty()) return;
  const size_t n_tiles = ws.host_tiles.size();
  // The merge pass's (item, token) list goes after the tiles in the same device array.
  if (n_splits > 1)
    for (int s = 0; s < n_items; ++s)
      for (int i = 0; i < items[s].n_q; ++i) ws.host_tiles.push_back(make_int2(s, i));
  ws.tiles.grow(ws.host_tiles.size());
  to_device(ws.tiles.get(), ws.host_tiles.data(), sizeof(int2) * ws.host_tiles.size());

  if (n_splits > 1) {
    // Partial rows are indexed by the global (token, head) row, so size them by the largest row.
    int max_row_token = 0;
    for (int s = 0; s < n_items; ++s) max_row_token = std::max(max_row_token, items[s].q_row0 + items[s].n_q);
    const size_t rows = size_t(max_row_token) * p.n_heads;
    ws.part_o.grow(rows * n_splits * p.head_dim);
    ws.part_ml.grow(rows * n_splits);
  }
  dim3 grid(unsigned(n_tiles), unsigned(p.n_kv_heads), unsigned(n_splits));
  attention_split_kernel<<<grid, WARPS * 32, 0, stream>>>(p, ws.items.get(), ws.tiles.get(), ws.lens.get(),
                                                         used_split_keys, n_splits, ws.part_o.get(), ws.part_ml.get());
  PCOMP_CUDA_LAUNCHED();
  if (n_splits > 1) {
    const int warps = 4;
    dim3 mgrid(unsigned(total_tokens), unsigned(ceil_div(p.n_heads, warps)));
    attention_split_merge_kernel<<<mgrid, warps * 32, 0, stream>>>(p, ws.items.get(), ws.tiles.get() + n_tiles,
                                                                   n_splits, ws.part_o.get(), ws.part_ml.get());
    PCOMP_CUDA_LAUNCHED();
  }
}

}  // namespace cuda
}  // namespace pcomp
