// One block per row: (max, first argmax) reduction, then the sum of exp(x - max) in f32.
#include "log_softmax_pick.cuh"

namespace pcomp {
namespace cuda {

// Larger value wins; on a tie the lower index, as the CPU twin's strict `>` scan does.
__device__ __forceinline__ void better(float& v, int& i, float v2, int i2) {
  if (v2 > v || (v2 == v && i2 < i)) { v = v2; i = i2; }
}

static __global__ void log_softmax_pick_f32_kernel(const float* logits, const int32_t* target, float* out_logprob,
                                                   int32_t* out_argmax, int V) {
  __shared__ float sv[32];
  __shared__ int si[32];
  __shared__ float scratch[32];
  const float* r = logits + size_t(blockIdx.x) * V;
  float best = -INFINITY;
  int arg = 0x7fffffff;
  for (int i = threadIdx.x; i < V; i += blockDim.x) better(best, arg, r[i], i);
  for (int o = 16; o > 0; o >>= 1) {
    float v2 = __shfl_xor_sync(0xffffffffu, best, o);
    int i2 = __shfl_xor_sync(0xffffffffu, arg, o);
    better(best, arg, v2, i2);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  if (lane == 0) { sv[warp] = best; si[warp] = arg; }
  __syncthreads();
  best = lane < nwarps ? sv[lane] : -INFINITY;
  arg = lane < nwarps ? si[lane] : 0x7fffffff;
  for (int o = 16; o > 0; o >>= 1) {
    float v2 = __shfl_xor_sync(0xffffffffu, best, o);
    int i2 = __shfl_xor_sync(0xffffffffu, arg, o);
    better(best, arg, v2, i2);
  }
  float s = 0.f;
  for (int i = threadIdx.x; i < V; i += blockDim.x) s += expf(r[i] - best);
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) {
    if (out_argmax) out_argmax[blockIdx.x] = arg;
    if (out_logprob) {
      const int tg = target ? target[blockIdx.x] : -1;
      out_logprob[blockIdx.x] = tg >= 0 && tg < V ? r[tg] - best - logf(s) : 0.f;
    }
  }
}

void log_softmax_pick_f32(const float* logits, const int32_t* target, float* out_logprob, int32_t* out_argmax, int T,
                          int V, cudaStream_t stream) {
  if (T <= 0) return;
  log_softmax_pick_f32_kernel<<<T, PCOMP_LOG_SOFTMAX_PICK_BLOCK_SIZE, 0, stream>>>(logits, target, out_logprob,
                                                                                    out_argmax, V);
  PCOMP_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace pcomp
