// backend.h's fold_bins on the device (the attention trace of `pcomp attn`): per-key masses summed
// into bins. CPU twin: engine/src/backend/cpu/fold_bins.cpp (the reference it is tested against).
#pragma once
#include "common.cuh"

namespace pcomp {
namespace cuda {

// score [rows, L] f64, bin [n_sets, L] i32, row_set/len device arrays ([rows], [n_sets]);
// out [rows, n_bins] f64 is overwritten. f64 atomics: the summation order is not fixed.
void fold_bins(const double* score, int rows, int L, const int* row_set, const int* len, const int32_t* bin,
               int n_bins, double* out, cudaStream_t stream);

}  // namespace cuda
}  // namespace pcomp
