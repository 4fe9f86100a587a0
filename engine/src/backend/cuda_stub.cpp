// Linked when the CUDA backend is not compiled (PCOMP_CUDA=OFF or nvcc not found).
#include "backend.h"

namespace pcomp {
const Backend* cuda_backend(const char** why) {
  if (why) *why = "CUDA backend not compiled (nvcc not found or PCOMP_CUDA=OFF)";
  return nullptr;
}
}  // namespace pcomp
