// One block row per (score row, slice of keys): each thread adds its keys' masses to a shared
// copy of the row's bins when they fit in shared memory (else straight to global memory), then the
// block adds its partial bins to the output with f64 atomics (compute capability 6.0+).
#include "fold_bins.cuh"

namespace pcomp {
namespace cuda {

namespace {
constexpr int NT = 256;
constexpr int SHARED_BINS = 4096;  // 32 KiB of doubles
constexpr int KEYS_PER_BLOCK = 8192;
}  // namespace

static __global__ void fold_bins_kernel(const double* score, int L, const int* row_set, const int* len,
                                        const int32_t* bin, int n_bins, double* out) {
  __shared__ double acc[SHARED_BINS];
  const int r = blockIdx.y;
  const int s = row_set[r];
  const int n = min(len[s], L);
  const int j0 = blockIdx.x * KEYS_PER_BLOCK, j1 = min(n, j0 + KEYS_PER_BLOCK);
  const double* row = score + size_t(r) * L;
  const int32_t* map = bin + size_t(s) * L;
  double* o = out + size_t(r) * n_bins;
  const bool shared = n_bins <= SHARED_BINS;
  if (shared) {
    for (int b = threadIdx.x; b < n_bins; b += NT) acc[b] = 0.0;
    __syncthreads();
  }
  for (int j = j0 + threadIdx.x; j < j1; j += NT) {
    const int b = map[j];
    if (b < 0 || b >= n_bins) continue;
    if (shared) atomicAdd(&acc[b], row[j]);
    else atomicAdd(&o[b], row[j]);
  }
  if (shared) {
    __syncthreads();
    for (int b = threadIdx.x; b < n_bins; b += NT)
      if (acc[b] != 0.0) atomicAdd(&o[b], acc[b]);
  }
}

void fold_bins(const double* score, int rows, int L, const int* row_set, const int* len, const int32_t* bin,
               int n_bins, double* out, cudaStream_t stream) {
  if (rows <= 0 || n_bins <= 0) return;
  PCOMP_CUDA_CHECK(cudaMemsetAsync(out, 0, size_t(rows) * n_bins * sizeof(double), stream));
  if (L <= 0) return;
  const dim3 grid(unsigned(ceil_div(L, KEYS_PER_BLOCK)), unsigned(rows));
  fold_bins_kernel<<<grid, NT, 0, stream>>>(score, L, row_set, len, bin, n_bins, out);
  PCOMP_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace pcomp
