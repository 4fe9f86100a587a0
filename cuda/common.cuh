// Shared helpers of the CUDA kernels: error checks, bf16 conversion, warp reductions.
// Every kernel file includes this and its own .cuh; nothing here allocates.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace pcomp {
namespace cuda {

typedef __nv_bfloat16 bf16;

// Throws std::runtime_error naming the call, file and line (the C API reports it as an internal error).
[[noreturn]] void fail(cudaError_t err, const char* what, const char* file, int line);

#define PCOMP_CUDA_CHECK(call)                                                         \
  do {                                                                                 \
    cudaError_t pcomp_err_ = (call);                                                   \
    if (pcomp_err_ != cudaSuccess) ::pcomp::cuda::fail(pcomp_err_, #call, __FILE__, __LINE__); \
  } while (0)
// After a launch: catches bad launch configurations at once (not asynchronous faults).
#define PCOMP_CUDA_LAUNCHED() PCOMP_CUDA_CHECK(cudaGetLastError())

inline int ceil_div(int a, int b) { return (a + b - 1) / b; }
inline size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

// Device helpers, for nvcc only: the host-side files (forward, cache, pipeline, backend glue) are
// plain .cpp compiled by the host compiler, which keeps the CUDA build short.
#ifdef __CUDACC__

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over a block of blockDim.x threads (a multiple of 32, at most 1024); every thread gets it.
// `scratch` holds 32 floats of shared memory; the barrier before the write lets back-to-back
// reductions share it.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : 0.f;
  v = warp_sum(v);
  return v;
}
__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : -INFINITY;
  v = warp_max(v);
  return v;
}

// Eight bf16 values packed in 16 bytes, the unit of vectorised K/V and weight loads.
__device__ __forceinline__ void bf16x8_to_float(const uint4& u, float* out) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float2 f = __bfloat1622float2(h[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}

#endif  // __CUDACC__

}  // namespace cuda
}  // namespace pcomp
