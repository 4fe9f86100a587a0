// The CPU twin of backend.h's attention_parts (Dual Chunk Attention's merged intra-, successive- and
// inter-chunk attention): per query row and head, one online softmax over every part's key range,
// in double, so the parts merge exactly as one softmax over all keys (the log-sum-exp merge of
// ChunkLlama's flash partials, without materialising the partials).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"

namespace pcomp::cpu {

void attention_parts(const AttentionPartsArgs& a) {
  const int H = a.n_heads, hd = a.head_dim, per = H / a.n_kv_heads;
  float* out = static_cast<float*>(host_ptr(a.out.buf)) + a.out.off;
  std::vector<double> acc(static_cast<size_t>(hd));
  for (int r = 0; r < a.n_q; ++r)
    for (int h = 0; h < H; ++h) {
      const int set = h / per;
      const float* K = static_cast<const float*>(host_ptr(a.k[set]));
      const float* V = static_cast<const float*>(host_ptr(a.v[set]));
      double mx = -INFINITY, den = 0;
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int p = 0; p < a.n_parts; ++p) {
        const float* q = static_cast<const float*>(host_ptr(a.q[p].buf)) + a.q[p].off + (size_t(r) * H + h) * hd;
        const int lo = a.lo[size_t(p) * a.n_q + r], hi = a.hi[size_t(p) * a.n_q + r];
        for (int j = lo; j < hi; ++j) {
          const float* kr = K + size_t(j) * hd;
          double s = 0;
          for (int d = 0; d < hd; ++d) s += double(q[d]) * kr[d];
          s *= a.scale;
          if (s > mx) {
            const double c = std::exp(mx - s);
            den *= c;
            for (double& x : acc) x *= c;
            mx = s;
          }
          const double w = std::exp(s - mx);
          den += w;
          const float* vr = V + size_t(j) * hd;
          for (int d = 0; d < hd; ++d) acc[d] += w * vr[d];
        }
      }
      float* o = out + (size_t(r) * H + h) * hd;
      for (int d = 0; d < hd; ++d) o[d] = den > 0 ? float(acc[d] / den) : 0.f;
    }
}

}  // namespace pcomp::cpu
