// The CPU twin of backend.h's fold_bins (the attention trace of `pcomp attn`): per-key masses
// summed into bins, in double, one row at a time (cuda/fold_bins.cu is the device twin).
#include <algorithm>

#include "kernels.h"

namespace pcomp::cpu {

void fold_bins(const FoldBinsArgs& a) {
  const double* score = a.score.buf ? static_cast<const double*>(host_ptr(a.score.buf)) + a.score.off : nullptr;
  const int32_t* bin = a.bin.buf ? static_cast<const int32_t*>(host_ptr(a.bin.buf)) + a.bin.off : nullptr;
  double* out = static_cast<double*>(host_ptr(a.out.buf)) + a.out.off;
  std::fill(out, out + size_t(a.rows) * a.n_bins, 0.0);
  for (int r = 0; r < a.rows; ++r) {
    const int s = a.row_set[r];
    const int n = std::min(a.len[s], a.L);
    const double* row = score + size_t(r) * a.L;
    const int32_t* map = bin + size_t(s) * a.L;
    double* o = out + size_t(r) * a.n_bins;
    for (int j = 0; j < n; ++j) {
      const int b = map[j];
      if (b >= 0 && b < a.n_bins) o[b] += row[j];
    }
  }
}

}  // namespace pcomp::cpu
