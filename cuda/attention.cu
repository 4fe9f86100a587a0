// Flash-attention forward for batched prefill (layout and semantics in attention.cuh).
//
// One block = one KV head x 64 packed query rows, 4 warps, each warp owning 16 rows from start to
// end: S = Q K^T (WMMA, fp32), mask + online softmax on its rows, P (bf16) V accumulated into its
// rows of O. Because no warp reads another warp's rows of S, P or O, only the K/V tile loads need
// block barriers. O lives in shared memory (f32) rather than in accumulator fragments, because the
// per-row rescaling by exp(m_old - m_new) needs the element-to-row mapping that WMMA keeps opaque;
// the fragment is reloaded from shared memory around each P V product.
// The softmax denominator sums the bf16-rounded P that the tensor cores multiply, so the weights
// of each output row sum to one exactly.
#include <mma.h>

#include <algorithm>
#include <stdexcept>

#include "attention.cuh"
#include "decode_attention.cuh"

namespace pcomp {
namespace cuda {

namespace {
constexpr int BM = PCOMP_ATTENTION_FLASH_ROWS, BN = PCOMP_ATTENTION_FLASH_KEYS;
constexpr int NTHREADS = PCOMP_ATTENTION_FLASH_BLOCK_SIZE;

template <int HD>
struct FlashSmem {
  static constexpr int LDQ = HD + 8, LDS = BN + 4, LDP = BN + 8, LDO = HD + 4;
  static constexpr size_t round(size_t b) { return (b + 127) / 128 * 128; }
  static constexpr size_t q_off = 0;
  static constexpr size_t k_off = q_off + round(size_t(BM) * LDQ * 2);
  static constexpr size_t v_off = k_off + round(size_t(BN) * LDQ * 2);
  static constexpr size_t s_off = v_off + round(size_t(BN) * LDQ * 2);
  static constexpr size_t p_off = s_off + round(size_t(BM) * LDS * 4);
  static constexpr size_t o_off = p_off + round(size_t(BM) * LDP * 2);
  static constexpr size_t m_off = o_off + round(size_t(BM) * LDO * 4);
  static constexpr size_t l_off = m_off + round(size_t(BM) * 4);
  static constexpr size_t bytes = l_off + round(size_t(BM) * 4);
};
}  // namespace

template <int HD>
static __global__ void __launch_bounds__(NTHREADS)
    attention_flash_bf16_kernel(AttnParams p, const AttnItem* items, const int2* tiles, const int* lens) {
  using namespace nvcuda;
  using L = FlashSmem<HD>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* Qs = reinterpret_cast<bf16*>(smem + L::q_off);
  bf16* Ks = reinterpret_cast<bf16*>(smem + L::k_off);
  bf16* Vs = reinterpret_cast<bf16*>(smem + L::v_off);
  float* Ss = reinterpret_cast<float*>(smem + L::s_off);
  bf16* Ps = reinterpret_cast<bf16*>(smem + L::p_off);
  float* Os = reinterpret_cast<float*>(smem + L::o_off);
  float* row_m = reinterpret_cast<float*>(smem + L::m_off);
  float* row_l = reinterpret_cast<float*>(smem + L::l_off);

  const int2 tile = tiles[blockIdx.x];
  const AttnItem it = items[tile.x];
  const int kvh = blockIdx.y;
  const int group = p.n_heads / p.n_kv_heads;
  const int rows = it.n_q * group;
  const int p0 = tile.y * BM;
  const int len = lens[it.len_off + kvh];
  const bf16* Kh = it.k_heads ? it.k_heads[kvh] : it.k + kvh * it.head_stride;
  const bf16* Vh = it.v_heads ? it.v_heads[kvh] : it.v + kvh * it.head_stride;
  const int ld = p.n_heads * HD;  // row stride of q and out
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;

  // Q tile, f32 -> bf16; rows past the item are zero.
  for (int e = tid; e < BM * (HD / 4); e += NTHREADS) {
    const int r = e / (HD / 4), c = (e % (HD / 4)) * 4, pp = p0 + r;
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (pp < rows) {
      const int i = pp / group, head = kvh * group + pp % group;
      v = *reinterpret_cast<const float4*>(p.q + size_t(it.q_row0 + i) * ld + head * HD + c);
    }
    __nv_bfloat162* d = reinterpret_cast<__nv_bfloat162*>(&Qs[r * L::LDQ + c]);
    d[0] = __floats2bfloat162_rn(v.x, v.y);
    d[1] = __floats2bfloat162_rn(v.z, v.w);
  }
  for (int e = tid; e < BM * L::LDO; e += NTHREADS) Os[e] = 0.f;
  for (int e = tid; e < BM; e += NTHREADS) { row_m[e] = -INFINITY; row_l[e] = 0.f; }

  // Keys this tile can see: up to the last row's last key, from the first row's first key.
  const int i_lo = p0 / group, i_hi = (min(rows, p0 + BM) - 1) / group;
  const int key_hi = len - it.n_q + i_hi;
  const int key_lo = p.sliding_window > 0 ? max(0, len - it.n_q + i_lo - p.sliding_window + 1) : 0;

  // This lane's softmax row (two lanes per row, 32 columns each).
  const int rr = warp * 16 + (lane >> 1), half = lane & 1;
  const int prow = p0 + rr;
  const bool row_ok = prow < rows;
  const int row_last = row_ok ? len - it.n_q + prow / group : -1;
  const int row_first = p.sliding_window > 0 ? max(0, row_last - p.sliding_window + 1) : 0;
  __syncthreads();

  for (int j0 = key_lo; j0 <= key_hi; j0 += BN) {
    for (int e = tid; e < BN * (HD / 8); e += NTHREADS) {
      const int r = e / (HD / 8), c = (e % (HD / 8)) * 8, j = j0 + r;
      uint4 kv = make_uint4(0u, 0u, 0u, 0u), vv = kv;
      if (j <= key_hi) {
        kv = *reinterpret_cast<const uint4*>(Kh + size_t(j) * HD + c);
        vv = *reinterpret_cast<const uint4*>(Vh + size_t(j) * HD + c);
      }
      *reinterpret_cast<uint4*>(&Ks[r * L::LDQ + c]) = kv;
      *reinterpret_cast<uint4*>(&Vs[r * L::LDQ + c]) = vv;
    }
    __syncthreads();

    // S rows of this warp = Q K^T; K(j, d) at Ks[j * LDQ + d] is B(d, j) column-major.
    {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> s[BN / 16];
#pragma unroll
      for (int j = 0; j < BN / 16; ++j) wmma::fill_fragment(s[j], 0.f);
#pragma unroll
      for (int kk = 0; kk < HD; kk += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
        wmma::load_matrix_sync(a, &Qs[(warp * 16) * L::LDQ + kk], L::LDQ);
#pragma unroll
        for (int j = 0; j < BN / 16; ++j) {
          wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> b;
          wmma::load_matrix_sync(b, &Ks[(j * 16) * L::LDQ + kk], L::LDQ);
          wmma::mma_sync(s[j], a, b, s[j]);
        }
      }
#pragma unroll
      for (int j = 0; j < BN / 16; ++j)
        wmma::store_matrix_sync(&Ss[(warp * 16) * L::LDS + j * 16], s[j], L::LDS, wmma::mem_row_major);
    }
    __syncwarp();

    // Mask, online softmax, P in bf16, rescale this row of O.
    float* srow = &Ss[rr * L::LDS + half * 32];
    float mx = -INFINITY;
#pragma unroll 8
    for (int c = 0; c < 32; ++c) {
      const int j = j0 + half * 32 + c;
      const bool ok = row_ok && j >= row_first && j <= row_last;
      const float sv = ok ? srow[c] * p.scale : -INFINITY;
      srow[c] = sv;
      mx = fmaxf(mx, sv);
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float m_old = row_m[rr];
    const float m_new = fmaxf(m_old, mx);
    const float corr = m_new == -INFINITY ? 1.f : __expf(m_old - m_new);
    float lsum = 0.f;
    bf16* prow_s = &Ps[rr * L::LDP + half * 32];
#pragma unroll 8
    for (int c = 0; c < 32; ++c) {
      const float sv = srow[c];
      const bf16 pb = __float2bfloat16(sv == -INFINITY ? 0.f : __expf(sv - m_new));
      prow_s[c] = pb;
      lsum += __bfloat162float(pb);
    }
    lsum += __shfl_xor_sync(0xffffffffu, lsum, 1);
    __syncwarp();  // both lanes of the row have read row_m
    if (half == 0) {
      row_m[rr] = m_new;
      row_l[rr] = row_l[rr] * corr + lsum;
    }
    float* orow = &Os[rr * L::LDO + half * (HD / 2)];
#pragma unroll 8
    for (int c = 0; c < HD / 2; ++c) orow[c] *= corr;
    __syncwarp();

    // O rows of this warp += P V; V(j, d) at Vs[j * LDQ + d] is B(j, d) row-major.
#pragma unroll
    for (int dj = 0; dj < HD / 16; ++dj) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> o;
      float* optr = &Os[(warp * 16) * L::LDO + dj * 16];
      wmma::load_matrix_sync(o, optr, L::LDO, wmma::mem_row_major);
#pragma unroll
      for (int kk = 0; kk < BN; kk += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> b;
        wmma::load_matrix_sync(a, &Ps[(warp * 16) * L::LDP + kk], L::LDP);
        wmma::load_matrix_sync(b, &Vs[kk * L::LDQ + dj * 16], L::LDQ);
        wmma::mma_sync(o, a, b, o);
      }
      wmma::store_matrix_sync(optr, o, L::LDO, wmma::mem_row_major);
    }
    __syncthreads();  // every warp is done with this K/V tile
  }

  if (row_ok) {
    const float l = row_l[rr];
    const float inv = l > 0.f ? 1.f / l : 0.f;
    const int i = prow / group, head = kvh * group + prow % group;
    float* out = p.out + size_t(it.q_row0 + i) * ld + head * HD + half * (HD / 2);
    const float* orow = &Os[rr * L::LDO + half * (HD / 2)];
    for (int c = 0; c < HD / 2; ++c) out[c] = orow[c] * inv;
  }
}

bool attention_flash_supports(int head_dim) { return head_dim == 64 || head_dim == 128; }

template <int HD>
static void attention_flash_launch(const AttnParams& p, AttentionWorkspace& ws, cudaStream_t stream) {
  const size_t smem = FlashSmem<HD>::bytes;
  static bool configured = false;  // the attribute is per function; set it once per process
  if (!configured) {
    PCOMP_CUDA_CHECK(cudaFuncSetAttribute(attention_flash_bf16_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          int(smem)));
    configured = true;
  }
  dim3 grid(unsigned(ws.host_tiles.size()), unsigned(p.n_kv_heads));
  attention_flash_bf16_kernel<HD><<<grid, NTHREADS, smem, stream>>>(p, ws.items.get(), ws.tiles.get(), ws.lens.get());
  PCOMP_CUDA_LAUNCHED();
}

void attention_batch(const AttnParams& p, const AttnItem* items, int n_items, const int* lens, AttentionWorkspace& ws,
                     cudaStream_t stream, AttnKernel kernel) {
  if (n_items <= 0) return;
  if (p.n_kv_heads <= 0 || p.n_heads % p.n_kv_heads != 0)
    throw std::runtime_error("attention: n_heads must be a multiple of n_kv_heads");
  if (p.head_dim <= 0 || p.head_dim > PCOMP_ATTENTION_MAX_HEAD_DIM)
    throw std::runtime_error("attention: head_dim must be in 1..256");
  const int group = p.n_heads / p.n_kv_heads;
  ws.items.grow(size_t(n_items));
  ws.lens.grow(size_t(n_items) * p.n_kv_heads);
  to_device(ws.items.get(), items, sizeof(AttnItem) * n_items);
  to_device(ws.lens.get(), lens, sizeof(int) * size_t(n_items) * p.n_kv_heads);

  int max_rows = 0, max_len = 0;
  for (int s = 0; s < n_items; ++s) {
    max_rows = std::max(max_rows, items[s].n_q * group);
    for (int h = 0; h < p.n_kv_heads; ++h) max_len = std::max(max_len, lens[size_t(s) * p.n_kv_heads + h]);
  }
  // Decode-shaped batches (a handful of rows per item) gain nothing from 64-row tiles; they need
  // the sequence split to fill the GPU.
  const bool decode_shaped = max_rows <= 16;
  if (kernel == AttnKernel::Auto)
    kernel = attention_flash_supports(p.head_dim) && !decode_shaped ? AttnKernel::Flash : AttnKernel::Split;
  if (kernel == AttnKernel::Flash && !attention_flash_supports(p.head_dim))
    throw std::runtime_error("attention: the flash kernel needs head_dim 64 or 128");
  if (kernel == AttnKernel::Split) {
    decode_attention_batch(p, items, n_items, lens, ws, decode_shaped ? PCOMP_ATTENTION_SPLIT_KEYS : 0, stream);
    return;
  }
  ws.host_tiles.clear();
  for (int s = 0; s < n_items; ++s)
    for (int t = 0; t < ceil_div(items[s].n_q * group, BM); ++t) ws.host_tiles.push_back(make_int2(s, t));
  if (ws.host_tiles.empty()) return;
  ws.tiles.grow(ws.host_tiles.size());
  to_device(ws.tiles.get(), ws.host_tiles.data(), sizeof(int2) * ws.host_tiles.size());
  if (p.head_dim == 64) attention_flash_launch<64>(p, ws, stream);
  else attention_flash_launch<128>(p, ws, stream);
  (void)max_len;
}

}  // namespace cuda
}  // namespace pcomp
