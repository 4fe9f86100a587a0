// CUDA backend entry: detects a usable GPU at run time. Kernels live one per file beside this one,
// each named like its CPU twin in engine/src/backend/cpu.
#include <cuda_runtime.h>

#include <string>

#include "../engine/src/backend/backend.h"

namespace pcomp {

const Backend* cuda_backend(const char** why) {
  static std::string reason;
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess || n == 0) {
    reason = std::string("no usable GPU: ") + (err != cudaSuccess ? cudaGetErrorString(err) : "0 devices");
    if (why) *why = reason.c_str();
    return nullptr;
  }
  reason = "GPU found, but the CUDA kernels are not implemented yet; using the CPU";
  if (why) *why = reason.c_str();
  return nullptr;
}

}  // namespace pcomp
