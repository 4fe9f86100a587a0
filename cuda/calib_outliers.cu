// Flag and count outliers per head (one block per head), then reuse topk_indices on a priority
// that puts outliers last: keeping the n - m highest (a, index) non-outliers is the same as evicting
// the outliers plus the m - |outliers| lowest, ties lower index first. Keys outside the span are
// copied through around the selection.
#include <algorithm>

#include "calib_outliers.cuh"

namespace pcomp {
namespace cuda {

static __global__ void calib_flag_kernel(const float* scores, int ld, int span_start, int n, int region, int S, int R,
                                         bool strict, float threshold, float* priority, int* counts) {
  __shared__ float scratch[32];
  const float* a = scores + size_t(blockIdx.x) * ld + span_start;
  float* pr = priority + size_t(blockIdx.x) * n;
  float c = 0.f;
  for (int p = threadIdx.x; p < n; p += blockDim.x) {
    bool in;
    switch (region) {
      case 0: in = p < S; break;
      case 1: in = strict ? p > n - R : p >= n - R; break;
      case 2: in = strict ? (p > S && p < n - R) : (p >= S && p < n - R); break;
      default: in = true;
    }
    const bool out = in && a[p] > threshold;
    pr[p] = out ? -INFINITY : a[p];
    c += out ? 1.f : 0.f;
  }
  c = block_sum(c, scratch);
  if (threadIdx.x == 0) counts[blockIdx.x] = int(c + 0.5f);
}

static __global__ void calib_passthrough_kernel(int32_t* keep, int ld_keep, const int* kept_span, int span_start,
                                                int span_end, int L) {
  const int g = blockIdx.y;
  int32_t* k = keep + size_t(g) * ld_keep;
  const int mid = kept_span[g];
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < span_start + (L - span_end); i += gridDim.x * blockDim.x) {
    if (i < span_start) k[i] = i;
    else k[span_start + mid + (i - span_start)] = span_end + (i - span_start);
  }
}

void calib_select(const float* scores, int n_kv, int L, int ld, int span_start, int span_end, const CalibSelect& rule,
                  int32_t* keep, int ld_keep, int* kept, int* outliers, CalibWorkspace& ws, cudaStream_t stream) {
  const int n = span_end - span_start;
  ws.host_counts.assign(size_t(n_kv), 0);
  if (n > 0) {
    ws.priority.grow(size_t(n_kv) * n);
    ws.counts.grow(size_t(n_kv));
    calib_flag_kernel<<<n_kv, 256, 0, stream>>>(scores, ld, span_start, n, int(rule.region), rule.sink, rule.recent,
                                                rule.strict, rule.threshold, ws.priority.get(), ws.counts.get());
    PCOMP_CUDA_LAUNCHED();
    PCOMP_CUDA_CHECK(cudaMemcpyAsync(ws.host_counts.data(), ws.counts.get(), sizeof(int) * n_kv, cudaMemcpyDeviceToHost,
                                     stream));
    PCOMP_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
  const int most = n_kv > 0 ? *std::max_element(ws.host_counts.begin(), ws.host_counts.end()) : 0;
  ws.host_ks.resize(size_t(n_kv));
  for (int g = 0; g < n_kv; ++g) {
    ws.host_ks[g] = n - (rule.equalise ? most : ws.host_counts[g]);
    kept[g] = ws.host_ks[g] + span_start + (L - span_end);
    if (outliers) outliers[g] = ws.host_counts[g];
  }
  if (n > 0)
    topk_indices(ws.priority.get(), n_kv, n, n, ws.host_ks.data(), /*ties_low_first=*/false, keep + span_start, ld_keep,
                 span_start, ws.topk, stream);
  const int outside = span_start + (L - span_end);
  if (outside > 0) {
    // topk_indices left ws.topk.ks holding the per-head counts inside the span.
    if (n <= 0) {
      ws.topk.ks.grow(size_t(n_kv));
      to_device(ws.topk.ks.get(), ws.host_ks.data(), sizeof(int) * n_kv);
    }
    dim3 grid(unsigned(std::min(ceil_div(outside, 256), 1024)), unsigned(n_kv));
    calib_passthrough_kernel<<<grid, 256, 0, stream>>>(keep, ld_keep, ws.topk.ks.get(), span_start, span_end, L);
    PCOMP_CUDA_LAUNCHED();
  }
}

}  // namespace cuda
}  // namespace pcomp
