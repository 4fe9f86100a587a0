// Three kernels:
//   matmul_bf16w_wmma: 128x128 output tile per block of 8 warps (4 along M x 2 along N), each warp
//     32x64 = 2x4 WMMA accumulators; K staged 32 at a time through padded shared memory (rows of
//     40 bf16 keep fragment loads off a single bank). x is converted f32 -> bf16 while staged, so
//     activations never need a bf16 copy in device memory.
//   matmul_bf16w_gemv: one warp per output column, 16-byte weight loads, up to 8 rows at once;
//     x is rounded to bf16 here too, so both kernels compute the same products.
//   matmul_f32_tiled: 16x16 shared-memory tiles, one output per thread.
// The vectorised loads need K % 8 == 0 and 16-byte aligned rows; other shapes take scalar loads.
#include <mma.h>

#include "matmul.cuh"

namespace pcomp {
namespace cuda {

namespace {
constexpr int BM = PCOMP_MATMUL_BM, BN = PCOMP_MATMUL_BN, BK = PCOMP_MATMUL_BK;
constexpr int LDS = BK + 8;  // padded row of a staged tile, in bf16
constexpr int NTHREADS = PCOMP_MATMUL_BLOCK_SIZE;

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// The GEMV rounds x to bf16 like the tensor-core kernel stages it, so a decode step computes what
// the same row would get inside a prefill.
__device__ __forceinline__ float4 round_bf16(float4 v) {
  return make_float4(__bfloat162float(__float2bfloat16(v.x)), __bfloat162float(__float2bfloat16(v.y)),
                     __bfloat162float(__float2bfloat16(v.z)), __bfloat162float(__float2bfloat16(v.w)));
}
}  // namespace

static __global__ void __launch_bounds__(NTHREADS)
    matmul_bf16w_wmma_kernel(float* y, const float* x, const bf16* w, const float* bias, int T, int N, int K, bool vec) {
  using namespace nvcuda;
  __shared__ __align__(128) bf16 As[BM * LDS];
  __shared__ __align__(128) bf16 Bs[BN * LDS];
  __shared__ __align__(128) float Cs[NTHREADS / 32][16 * 16];
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int wm = warp & 3, wn = warp >> 2;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][4];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) wmma::fill_fragment(acc[i][j], 0.f);

  // Vectorised path: the next K step's tiles are loaded into registers while the tensor cores work
  // on the current one (register double buffering), so global latency hides behind the mma.
  float4 ra[4];  // A: 128 x 32 floats = 1024 float4, four per thread
  uint4 rb[2];   // B: 128 x 32 bf16 = 512 uint4, two per thread
  auto load_tiles = [&](int k0) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int e = tid + i * NTHREADS, gr = m0 + (e >> 3), gk = k0 + (e & 7) * 4;
      ra[i] = gr < T && gk < K ? *reinterpret_cast<const float4*>(x + size_t(gr) * K + gk) : make_float4(0.f, 0.f, 0.f, 0.f);
    }
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int e = tid + i * NTHREADS, gn = n0 + (e >> 2), gk = k0 + (e & 3) * 8;
      rb[i] = gn < N && gk < K ? *reinterpret_cast<const uint4*>(w + size_t(gn) * K + gk) : make_uint4(0u, 0u, 0u, 0u);
    }
  };
  if (vec) load_tiles(0);

  for (int k0 = 0; k0 < K; k0 += BK) {
    if (vec) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int e = tid + i * NTHREADS;
        __nv_bfloat162* d = reinterpret_cast<__nv_bfloat162*>(&As[(e >> 3) * LDS + (e & 7) * 4]);
        d[0] = __floats2bfloat162_rn(ra[i].x, ra[i].y);
        d[1] = __floats2bfloat162_rn(ra[i].z, ra[i].w);
      }
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int e = tid + i * NTHREADS;
        *reinterpret_cast<uint4*>(&Bs[(e >> 2) * LDS + (e & 3) * 8]) = rb[i];
      }
    } else {
      for (int e = tid; e < BM * BK; e += NTHREADS) {
        const int r = e / BK, c = e % BK, gr = m0 + r, gk = k0 + c;
        As[r * LDS + c] = __float2bfloat16(gr < T && gk < K ? x[size_t(gr) * K + gk] : 0.f);
      }
      for (int e = tid; e < BN * BK; e += NTHREADS) {
        const int r = e / BK, c = e % BK, gn = n0 + r, gk = k0 + c;
        Bs[r * LDS + c] = gn < N && gk < K ? w[size_t(gn) * K + gk] : __float2bfloat16(0.f);
      }
    }
    __syncthreads();
    if (vec && k0 + BK < K) load_tiles(k0 + BK);
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> b[4];
#pragma unroll
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(a[i], &As[(wm * 32 + i * 16) * LDS + kk], LDS);
      // B(k, n) = w[n, k] sits at Bs[n * LDS + k]: column-major with leading dimension LDS.
#pragma unroll
      for (int j = 0; j < 4; ++j) wmma::load_matrix_sync(b[j], &Bs[(wn * 64 + j * 16) * LDS + kk], LDS);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }

  float* cs = Cs[warp];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      wmma::store_matrix_sync(cs, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        const int gr = m0 + wm * 32 + i * 16 + (e >> 4), gc = n0 + wn * 64 + j * 16 + (e & 15);
        if (gr < T && gc < N) y[size_t(gr) * N + gc] = cs[e] + (bias ? bias[gc] : 0.f);
      }
      __syncwarp();
    }
}

static __global__ void matmul_bf16w_gemv_kernel(float* y, const float* x, const bf16* w, const float* bias, int T, int N,
                                                int K, bool vec) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n = blockIdx.x * (blockDim.x >> 5) + warp;
  if (n >= N) return;
  float acc[PCOMP_MATMUL_GEMV_MAX_ROWS];
#pragma unroll
  for (int t = 0; t < PCOMP_MATMUL_GEMV_MAX_ROWS; ++t) acc[t] = 0.f;
  const bf16* wr = w + size_t(n) * K;
  if (vec) {
    for (int k = lane * 8; k < K; k += 256) {
      float wf[8];
      bf16x8_to_float(*reinterpret_cast<const uint4*>(wr + k), wf);
#pragma unroll
      for (int t = 0; t < PCOMP_MATMUL_GEMV_MAX_ROWS; ++t)
        if (t < T) {
          const float4* xp = reinterpret_cast<const float4*>(x + size_t(t) * K + k);
          const float4 a = round_bf16(xp[0]), b = round_bf16(xp[1]);
          acc[t] += a.x * wf[0] + a.y * wf[1] + a.z * wf[2] + a.w * wf[3] + b.x * wf[4] + b.y * wf[5] + b.z * wf[6] +
                    b.w * wf[7];
        }
    }
  } else {
    for (int k = lane; k < K; k += 32) {
      const float wv = __bfloat162float(wr[k]);
#pragma unroll
      for (int t = 0; t < PCOMP_MATMUL_GEMV_MAX_ROWS; ++t)
        if (t < T) acc[t] += __bfloat162float(__float2bfloat16(x[size_t(t) * K + k])) * wv;
    }
  }
#pragma unroll
  for (int t = 0; t < PCOMP_MATMUL_GEMV_MAX_ROWS; ++t)
    if (t < T) {
      const float s = warp_sum(acc[t]);
      if (lane == 0) y[size_t(t) * N + n] = s + (bias ? bias[n] : 0.f);
    }
}

static __global__ void matmul_f32_tiled_kernel(float* y, const float* x, const float* w, const float* bias, int T, int N,
                                               int K) {
  __shared__ float xs[16][17], ws[16][17];
  const int tr = threadIdx.y, tc = threadIdx.x;
  const int row = blockIdx.y * 16 + tr, col = blockIdx.x * 16 + tc;
  float acc = 0.f;
  for (int k0 = 0; k0 < K; k0 += 16) {
    xs[tr][tc] = row < T && k0 + tc < K ? x[size_t(row) * K + k0 + tc] : 0.f;
    // ws[c][k] holds w[blockIdx.x*16 + c, k0 + k]; thread (tr, tc) loads row tr, column tc.
    const int wn = blockIdx.x * 16 + tr;
    ws[tr][tc] = wn < N && k0 + tc < K ? w[size_t(wn) * K + k0 + tc] : 0.f;
    __syncthreads();
#pragma unroll
    for (int k = 0; k < 16; ++k) acc += xs[tr][k] * ws[tc][k];
    __syncthreads();
  }
  if (row < T && col < N) y[size_t(row) * N + col] = acc + (bias ? bias[col] : 0.f);
}

static __global__ void convert_f32_to_bf16_kernel(bf16* dst, const float* src, size_t n) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = __float2bfloat16(src[i]);
}

static __global__ void convert_bf16_to_f32_kernel(float* dst, const bf16* src, size_t n) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = __bfloat162float(src[i]);
}

void matmul_bf16w(float* y, const float* x, const bf16* w, const float* bias, int T, int N, int K, cudaStream_t stream) {
  if (T <= 0 || N <= 0) return;
  const bool vec = K % 8 == 0 && aligned16(x) && aligned16(w);
  if (T <= PCOMP_MATMUL_GEMV_MAX_ROWS) {
    const int warps = 8;
    matmul_bf16w_gemv_kernel<<<ceil_div(N, warps), warps * 32, 0, stream>>>(y, x, w, bias, T, N, K, vec);
  } else {
    dim3 grid(ceil_div(N, BN), ceil_div(T, BM));
    matmul_bf16w_wmma_kernel<<<grid, NTHREADS, 0, stream>>>(y, x, w, bias, T, N, K, vec);
  }
  PCOMP_CUDA_LAUNCHED();
}

void matmul_f32(float* y, const float* x, const float* w, const float* bias, int T, int N, int K, cudaStream_t stream) {
  if (T <= 0 || N <= 0) return;
  dim3 grid(ceil_div(N, 16), ceil_div(T, 16)), block(16, 16);
  matmul_f32_tiled_kernel<<<grid, block, 0, stream>>>(y, x, w, bias, T, N, K);
  PCOMP_CUDA_LAUNCHED();
}

void convert_f32_to_bf16(bf16* dst, const float* src, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  convert_f32_to_bf16_kernel<<<unsigned(ceil_div(n, size_t(256))), 256, 0, stream>>>(dst, src, n);
  PCOMP_CUDA_LAUNCHED();
}

void convert_bf16_to_f32(float* dst, const bf16* src, size_t n, cudaStream_t stream) {
  if (n == 0) return;
  convert_bf16_to_f32_kernel<<<unsigned(ceil_div(n, size_t(256))), 256, 0, stream>>>(dst, src, n);
  PCOMP_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace pcomp
