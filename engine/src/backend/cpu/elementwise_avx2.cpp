// AVX2 element-wise ops that show up in prefill profiles: SiLU(gate) * up over [T, intermediate]
// costs one exp per element, which the scalar libm call makes ~5% of a prefill.
#include <algorithm>
#include <cmath>

#include "../../threadpool.h"
#include "kernels.h"
#include "simd_avx2.h"

PCOMP_AVX2_BEGIN
namespace pcomp::cpu {

void silu_mul_avx2(float* gate, const float* up, size_t n) {
  constexpr size_t B = 16384;  // elements per task
  const int tasks = int((n + B - 1) / B);
  pool().parallel_for(tasks, [&](int task) {
    const size_t i0 = size_t(task) * B, i1 = std::min(n, i0 + B);
    size_t i = i0;
    const __m256 one = _mm256_set1_ps(1.f), zero = _mm256_setzero_ps();
    for (; i + 8 <= i1; i += 8) {
      const __m256 g = _mm256_loadu_ps(gate + i);
      const __m256 e = avx2::exp8(_mm256_sub_ps(zero, g));
      const __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, e));
      _mm256_storeu_ps(gate + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
    }
    for (; i < i1; ++i) gate[i] = gate[i] / (1.f + std::exp(-gate[i])) * up[i];
  });
}

}  // namespace pcomp::cpu
PCOMP_AVX2_END
