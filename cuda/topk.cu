// One block per row. A radix select over the order-preserving 32-bit image of each float finds the
// k-th largest key in four 8-bit passes (a shared 256-bin histogram each); a final pass walks the
// row in index order, with block-wide prefix sums ranking both the kept elements and the ties, so
// the output comes out sorted by index without a sort.
#include <algorithm>
#include <vector>

#include "topk.cuh"

namespace pcomp {
namespace cuda {

namespace {
constexpr int NT = PCOMP_TOPK_BLOCK_SIZE;

// Ascending floats map to ascending unsigned keys.
__device__ __forceinline__ unsigned ordered_key(float f) {
  const unsigned u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Exclusive prefix sum over the block (NT threads); *total receives the block's sum.
__device__ __forceinline__ int block_exclusive_scan(int v, int* warp_sums, int* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int x = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, x, o);
    if (lane >= o) x += y;
  }
  __syncthreads();
  if (lane == 31) warp_sums[warp] = x;
  __syncthreads();
  if (warp == 0) {
    int s = lane < (NT >> 5) ? warp_sums[lane] : 0;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int y = __shfl_up_sync(0xffffffffu, s, o);
      if (lane >= o) s += y;
    }
    warp_sums[lane] = s;  // inclusive sums of warps
  }
  __syncthreads();
  *total = warp_sums[(NT >> 5) - 1];
  return x - v + (warp > 0 ? warp_sums[warp - 1] : 0);
}
}  // namespace

static __global__ void __launch_bounds__(NT)
    topk_indices_kernel(const float* scores, int n, int ld, const int* ks, bool ties_low_first, int32_t* out, int ld_out,
                        int index_offset) {
  __shared__ int hist[256];
  __shared__ int warp_sums[32];
  __shared__ unsigned s_prefix;
  __shared__ int s_need, s_ties;
  const float* row = scores + size_t(blockIdx.x) * ld;
  int32_t* o = out + size_t(blockIdx.x) * ld_out;
  const int k = min(max(ks[blockIdx.x], 0), n);
  if (k == 0) return;
  if (k == n) {
    for (int i = threadIdx.x; i < n; i += NT) o[i] = i + index_offset;
    return;
  }

  unsigned prefix = 0, mask = 0;
  int need = k;  // how many still to take among keys matching prefix under mask
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += NT) hist[b] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += NT) {
      const unsigned key = ordered_key(row[i]);
      if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 0xFF], 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      int above = 0, d = 255;
      for (; d > 0; --d) {
        if (above + hist[d] >= need) break;
        above += hist[d];
      }
      s_prefix = prefix | (unsigned(d) << shift);
      s_need = need - above;
      s_ties = hist[d];
    }
    __syncthreads();
    prefix = s_prefix;
    need = s_need;
    mask |= 0xFFu << shift;
  }
  // prefix is the k-th largest key; every key above it is kept, plus `need` of the `ties` equal ones.
  const int ties = s_ties;
  int kept_before = 0, ties_before = 0;
  for (int base = 0; base < n; base += NT) {
    const int i = base + threadIdx.x;
    const unsigned key = i < n ? ordered_key(row[i]) : 0u;
    const int is_tie = i < n && key == prefix;
    int tie_total;
    const int tie_rank = ties_before + block_exclusive_scan(is_tie, warp_sums, &tie_total);
    const bool take_tie = ties_low_first ? tie_rank < need : tie_rank >= ties - need;
    const int keep = i < n && (key > prefix || (is_tie && take_tie));
    int keep_total;
    const int pos = kept_before + block_exclusive_scan(keep, warp_sums, &keep_total);
    if (keep) o[pos] = i + index_offset;
    ties_before += tie_total;
    kept_before += keep_total;
  }
}

void topk_indices(const float* scores, int rows, int n, int ld, const int* ks, bool ties_low_first, int32_t* out,
                  int ld_out, int index_offset, TopkWorkspace& ws, cudaStream_t stream) {
  if (rows <= 0 || n <= 0) return;
  ws.ks.grow(size_t(rows));
  to_device(ws.ks.get(), ks, sizeof(int) * rows);
  topk_indices_kernel<<<rows, NT, 0, stream>>>(scores, n, ld, ws.ks.get(), ties_low_first, out, ld_out, index_offset);
  PCOMP_CUDA_LAUNCHED();
}

static __global__ void narrow_f64_kernel(const double* in, float* out, size_t n) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = float(in[i]);
}

void topk_indices_f64(const double* scores, int rows, int n, const int* ks, bool ties_low_first, int32_t* out,
                      int ld_out, TopkWorkspace& ws, cudaStream_t stream) {
  const size_t total = size_t(rows) * n;
  if (total == 0) return;
  ws.f32.grow(total);
  narrow_f64_kernel<<<unsigned(ceil_div(total, size_t(256))), 256, 0, stream>>>(scores, ws.f32.get(), total);
  PCOMP_CUDA_LAUNCHED();
  topk_indices(ws.f32.get(), rows, n, n, ks, ties_low_first, out, ld_out, 0, ws, stream);
}

}  // namespace cuda
}  // namespace pcomp
