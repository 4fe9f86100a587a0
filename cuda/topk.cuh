// Top-k selection per row, returning the kept indices in ascending index order (the order a KV
// cache keeps its entries in). CPU reference: topIndices in test/oracle/policies/attention.ts and
// its C++ copy in test/native/test_cuda_ops.cpp.
// Ties at the k-th value: lower indices first (ties_low_first, the kv-evict rule) or higher indices
// first (the calibration padding rule, which evicts the lowest score, lower index first).
#pragma once
#include "common.cuh"
#include "device_memory.cuh"

#define PCOMP_TOPK_BLOCK_SIZE 1024

namespace pcomp {
namespace cuda {

struct TopkWorkspace {
  DevBuf<int> ks;
  DevBuf<float> f32;  // topk_indices_f64: the scores narrowed to f32
};

// scores: [rows, n] with row stride ld. ks: host array, k of each row (clamped to [0, n]).
// out: row r's kept indices + index_offset go to out[r * ld_out .. + k_r).
void topk_indices(const float* scores, int rows, int n, int ld, const int* ks, bool ties_low_first, int32_t* out,
                  int ld_out, int index_offset, TopkWorkspace& ws, cudaStream_t stream);

// The same on f64 scores (backend.h's score dtype), narrowed to f32 first: near-ties closer than
// f32's precision may order differently from the CPU's double comparison.
void topk_indices_f64(const double* scores, int rows, int n, const int* ks, bool ties_low_first, int32_t* out,
                      int ld_out, TopkWorkspace& ws, cudaStream_t stream);

}  // namespace cuda
}  // namespace pcomp
