// One thread per 16-byte piece of a row when head_dim allows (8 bf16), else per element.
#include "kv_compact.cuh"

namespace pcomp {
namespace cuda {

static __global__ void kv_gather_kernel(bf16* dst_k, bf16* dst_v, long long dst_hs, int dst_row0, const bf16* src_k,
                                        const bf16* src_v, long long src_hs, int src_row0, const int32_t* keep,
                                        int ld_keep, int count, int hd, int piece) {
  const int pieces = hd / piece;
  const size_t idx = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= size_t(count) * pieces) return;
  const int h = blockIdx.y;
  const int i = int(idx / pieces), c = int(idx % pieces) * piece;
  const int s = keep ? keep[size_t(h) * ld_keep + i] : src_row0 + i;
  const size_t so = size_t(h) * src_hs + size_t(s) * hd + c, d = size_t(h) * dst_hs + size_t(dst_row0 + i) * hd + c;
  if (piece == 8) {
    *reinterpret_cast<uint4*>(dst_k + d) = *reinterpret_cast<const uint4*>(src_k + so);
    *reinterpret_cast<uint4*>(dst_v + d) = *reinterpret_cast<const uint4*>(src_v + so);
  } else {
    dst_k[d] = src_k[so];
    dst_v[d] = src_v[so];
  }
}

void kv_gather(bf16* dst_k, bf16* dst_v, long long dst_head_stride, int dst_row0, const bf16* src_k, const bf16* src_v,
               long long src_head_stride, int src_row0, const int32_t* keep, int ld_keep, int count, int n_kv, int hd,
               cudaStream_t stream) {
  if (count <= 0 || n_kv <= 0) return;
  const int piece = hd % 8 == 0 ? 8 : 1;
  const size_t n = size_t(count) * (hd / piece);
  dim3 grid(unsigned(ceil_div(n, size_t(PCOMP_KV_COMPACT_BLOCK_SIZE))), unsigned(n_kv));
  kv_gather_kernel<<<grid, PCOMP_KV_COMPACT_BLOCK_SIZE, 0, stream>>>(dst_k, dst_v, dst_head_stride, dst_row0, src_k, src_v,
                                                                    src_head_stride, src_row0, keep, ld_keep, count, hd,
                                                                    piece);
  PCOMP_CUDA_LAUNCHED();
}

static __global__ void kv_keep_edges_kernel(int32_t* keep, int ld, int head, int mid, int tail_start, int tail) {
  int32_t* k = keep + size_t(blockIdx.y) * ld;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < head + tail; i += gridDim.x * blockDim.x)
    k[i < head ? i : head + mid + (i - head)] = i < head ? i : tail_start + (i - head);
}

void kv_keep_edges(int32_t* keep, int ld, int n_kv, int head, int mid, int tail_start, int tail, cudaStream_t stream) {
  if (head + tail <= 0 || n_kv <= 0) return;
  dim3 grid(unsigned(ceil_div(head + tail, PCOMP_KV_COMPACT_BLOCK_SIZE) < 1024 ? ceil_div(head + tail, PCOMP_KV_COMPACT_BLOCK_SIZE) : 1024),
            unsigned(n_kv));
  kv_keep_edges_kernel<<<grid, PCOMP_KV_COMPACT_BLOCK_SIZE, 0, stream>>>(keep, ld, head, mid, tail_start, tail);
  PCOMP_CUDA_LAUNCHED();
}

static __global__ void kv_append_f32_kernel(bf16* dst_k, bf16* dst_v, long long hs, KvRows rows, const float* k_new,
                                            const float* v_new, int n, int n_kv, int hd) {
  const size_t idx = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= size_t(n) * n_kv * hd) return;
  const int d = int(idx % hd);
  const int h = int((idx / hd) % n_kv);
  const int t = int(idx / (size_t(hd) * n_kv));
  const size_t o = size_t(h) * hs + size_t(rows.row0[h] + t) * hd + d;
  dst_k[o] = __float2bfloat16(k_new[idx]);
  dst_v[o] = __float2bfloat16(v_new[idx]);
}

void kv_append_f32(bf16* dst_k, bf16* dst_v, long long head_stride, const KvRows& rows, const float* k_new,
                   const float* v_new, int n, int n_kv, int hd, cudaStream_t stream) {
  const size_t total = size_t(n) * n_kv * hd;
  if (total == 0) return;
  kv_append_f32_kernel<<<unsigned(ceil_div(total, size_t(PCOMP_KV_COMPACT_BLOCK_SIZE))), PCOMP_KV_COMPACT_BLOCK_SIZE,
                         0, stream>>>(dst_k, dst_v, head_stride, rows, k_new, v_new, n, n_kv, hd);
  PCOMP_CUDA_LAUNCHED();
}

static __global__ void kv_write_f32_kernel(bf16* dst, int row0, const float* src, size_t stride, int n, int hd) {
  const size_t idx = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= size_t(n) * hd) return;
  const int t = int(idx / hd), d = int(idx % hd);
  dst[size_t(row0 + t) * hd + d] = __float2bfloat16(src[size_t(t) * stride + d]);
}

void kv_write_f32(bf16* dst, int row0, const float* src, size_t src_stride, int n, int hd, cudaStream_t stream) {
  const size_t total = size_t(n) * hd;
  if (total == 0) return;
  kv_write_f32_kernel<<<unsigned(ceil_div(total, size_t(PCOMP_KV_COMPACT_BLOCK_SIZE))), PCOMP_KV_COMPACT_BLOCK_SIZE, 0,
                        stream>>>(dst, row0, src, src_stride, n, hd);
  PCOMP_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace pcomp
