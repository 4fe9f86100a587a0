// Attention calibration's outlier detection and per-head equalisation (paper Sec. 4, Eq. 8), on the
// device. CPU reference: attnCalib in test/oracle/policies/attn-calib.ts and its C++ copy in
// test/native/test_cuda_ops.cpp.
//
// scores [n_kv, L] (row stride ld): a_g[j] for every key of the layer's cache (kv_score with the
// group-mean weight). Outliers of head g: keys j in the span [span_start, span_end) with
// a_g[j] > threshold whose position p = j - span_start lies in the region (n = span length):
//   half-open: sink p < S, recent p >= n - R, middle S <= p < n - R; strict: recent p > n - R,
//   middle S < p < n - R; all: the whole span.
// Equalise: every head evicts m = max_g |outliers_g| keys, padding with its lowest-a non-outliers
// (ties: lower index first). Without it each head evicts just its outliers.
#pragma once
#include <vector>

#include "common.cuh"
#include "device_memory.cuh"
#include "topk.cuh"

namespace pcomp {
namespace cuda {

// One calibration rule's selection parameters (region: 0 sink, 1 recent, 2 middle, 3 all).
struct CalibSelect {
  int region = 3;
  float threshold = 0.1f;
  int sink = 0, recent = 0;
  bool strict = false, equalise = true;
};

struct CalibWorkspace {
  DevBuf<float> priority;  // [n_kv, n]: a for non-outliers, -inf for outliers
  DevBuf<int> counts;
  TopkWorkspace topk;
  std::vector<int> host_counts, host_ks;
};

// Writes, per head g, the cache indices to keep in ascending order to keep[g * ld_keep ..) (every key
// outside the span is kept) and their number to kept[g] (host). Returns the number of outliers per
// head in `outliers` (host) when it is non-null.
void calib_select(const float* scores, int n_kv, int L, int ld, int span_start, int span_end, const CalibSelect& rule,
                  int32_t* keep, int ld_keep, int* kept, int* outliers, CalibWorkspace& ws, cudaStream_t stream);

}  // namespace cuda
}  // namespace pcomp
