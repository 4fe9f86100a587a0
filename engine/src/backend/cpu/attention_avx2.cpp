// AVX2/FMA attention, tiled over queries and keys with an online softmax (flash-attention style).
//
// A task is one KV head and a block of queries; its rows are (query, query head of that KV head)
// pairs, up to ~64 of them, so every K/V block is read once for all of them (GQA groups share it).
// Per 64-key block: K is transposed to [head_dim][64] so scores are a small GEMM (4 rows x 16 keys
// per register tile), the block's probabilities are exponentiated 8 at a time, and P.V is another
// small GEMM into the rows' f32 accumulators. The score matrix is never held beyond one block.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../../threadpool.h"
#include "kernels.h"
#include "simd_avx2.h"

PCOMP_AVX2_BEGIN
namespace pcomp::cpu {
namespace {
using namespace avx2;

constexpr int KB = 64;  // keys per block

struct Scratch {
  std::vector<float> kt, s, o, m, l;
  std::vector<const float*> q;
  std::vector<int> first, last;
  void size(int rows, int hd) {
    if (kt.size() < size_t(hd) * KB) kt.resize(size_t(hd) * KB);
    if (s.size() < size_t(rows) * KB) s.resize(size_t(rows) * KB);
    if (o.size() < size_t(rows) * hd) o.resize(size_t(rows) * hd);
    if (m.size() < size_t(rows)) m.resize(rows), l.resize(rows), q.resize(rows), first.resize(rows), last.resize(rows);
  }
};

// kt[d][kk] = K[j0 + kk][d] for kk < nk, zero up to the next multiple of 16.
void transpose_block(float* kt, const float* K, int j0, int nk, int hd) {
  const int nk16 = (nk + 15) & ~15;
  for (int kk = 0; kk < nk16; kk += 8)
    for (int d = 0; d < hd; d += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i)
        r[i] = kk + i < nk ? _mm256_loadu_ps(K + size_t(j0 + kk + i) * hd + d) : _mm256_setzero_ps();
      transpose8(r);
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(kt + size_t(d + i) * KB + kk, r[i]);
    }
}

// s[r][kk] = scale * q[r] . K[kk] for R rows and the 16-key column block at c.
template <int R>
void score_tile(const float* const* q, const float* kt, int hd, int c, float scale, float* s) {
  __m256 a0[R], a1[R];
  for (int r = 0; r < R; ++r) a0[r] = a1[r] = _mm256_setzero_ps();
  for (int d = 0; d < hd; ++d) {
    const __m256 k0 = _mm256_loadu_ps(kt + size_t(d) * KB + c), k1 = _mm256_loadu_ps(kt + size_t(d) * KB + c + 8);
    for (int r = 0; r < R; ++r) {
      const __m256 qv = _mm256_broadcast_ss(q[r] + d);
      a0[r] = _mm256_fmadd_ps(qv, k0, a0[r]);
      a1[r] = _mm256_fmadd_ps(qv, k1, a1[r]);
    }
  }
  const __m256 sc = _mm256_set1_ps(scale);
  for (int r = 0; r < R; ++r) {
    _mm256_storeu_ps(s + size_t(r) * KB + c, _mm256_mul_ps(a0[r], sc));
    _mm256_storeu_ps(s + size_t(r) * KB + c + 8, _mm256_mul_ps(a1[r], sc));
  }
}

// o[r][d0 .. d0 + 8*DV) += sum_kk p[r][kk] * V[j0 + kk][same], for R rows.
template <int R, int DV>
void pv_tile(const float* p, const float* V, int j0, int nk, int hd, int d0, float* o) {
  __m256 acc[R][DV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < DV; ++v) acc[r][v] = _mm256_loadu_ps(o + size_t(r) * hd + d0 + 8 * v);
  for (int kk = 0; kk < nk; ++kk) {
    const float* vr = V + size_t(j0 + kk) * hd + d0;
    __m256 vv[DV];
    for (int v = 0; v < DV; ++v) vv[v] = _mm256_loadu_ps(vr + 8 * v);
    for (int r = 0; r < R; ++r) {
      const __m256 pv = _mm256_broadcast_ss(p + size_t(r) * KB + kk);
      for (int v = 0; v < DV; ++v) acc[r][v] = _mm256_fmadd_ps(pv, vv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < DV; ++v) _mm256_storeu_ps(o + size_t(r) * hd + d0 + 8 * v, acc[r][v]);
}

template <int R>
void pv_rows(const float* p, const float* V, int j0, int nk, int hd, float* o) {
  int d = 0;
  for (; d + 16 <= hd; d += 16) pv_tile<R, 2>(p, V, j0, nk, hd, d, o);
  if (d < hd) pv_tile<R, 1>(p, V, j0, nk, hd, d, o);
}

template <int R>
void scores_rows(const float* const* q, const float* kt, int hd, int nk, float scale, float* s) {
  for (int c = 0; c < nk; c += 16) score_tile<R>(q, kt, hd, c, scale, s);
}

// Softmax bookkeeping for one row over this block's keys [lo, hi) (block-relative): raises the
// running max, rescales the accumulator and sum, and turns s into probabilities (zero outside).
void online_softmax_row(float* s, int nk, int lo, int hi, float& m, float& l, float* o, int hd) {
  // Vector max (a scalar max chain is latency-bound and was 30% of attention at head_dim 8).
  __m256 mv8 = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  int kk0 = lo;
  for (; kk0 + 8 <= hi; kk0 += 8) mv8 = _mm256_max_ps(mv8, _mm256_loadu_ps(s + kk0));
  float mx = hmax(mv8);
  for (; kk0 < hi; ++kk0) mx = std::max(mx, s[kk0]);
  const float m_new = std::max(m, mx);
  const float corr = std::exp(m - m_new);  // 0 on the first block (m = -inf)
  const __m256 mv = _mm256_set1_ps(m_new);
  __m256 sum = _mm256_setzero_ps();
  const int nk16 = (nk + 15) & ~15;
  for (int kk = 0; kk < nk16; kk += 8) {
    __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + kk), mv));
    if (kk < lo || kk + 8 > hi) {  // partial: zero the masked lanes
      alignas(32) float buf[8];
      _mm256_store_ps(buf, e);
      for (int i = 0; i < 8; ++i)
        if (kk + i < lo || kk + i >= hi) buf[i] = 0.f;
      e = _mm256_load_ps(buf);
    }
    _mm256_storeu_ps(s + kk, e);
    sum = _mm256_add_ps(sum, e);
  }
  l = l * corr + hsum(sum);
  if (corr != 1.f) {
    const __m256 cv = _mm256_set1_ps(corr);
    for (int d = 0; d < hd; d += 8) _mm256_storeu_ps(o + d, _mm256_mul_ps(_mm256_loadu_ps(o + d), cv));
  }
  m = m_new;
}

}  // namespace

void attention_avx2(const AttnHost& a) {
  const int hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
  if (hd % 8 != 0) return attention_reference(a);
  const int QB = std::max(1, 64 / group);  // queries per task: ~64 rows
  const int qblocks = (a.n_q + QB - 1) / QB;
  pool().parallel_for(a.n_kv_heads * qblocks, [&](int task) {
    // Latest query blocks see the most keys: hand them out first so the tail of the loop is short.
    const int qb = qblocks - 1 - task / a.n_kv_heads, kvh = task % a.n_kv_heads;
    const int i0 = qb * QB, i1 = std::min(a.n_q, i0 + QB);
    const int rows = (i1 - i0) * group;
    thread_local Scratch sc;
    sc.size(rows, hd);
    const float* K = a.k[kvh];
    const float* V = a.v[kvh];
    const int len = a.kv_len[kvh];
    int jlo = std::numeric_limits<int>::max(), jhi = 0;
    for (int r = 0; r < rows; ++r) {
      const int i = i0 + r / group, h = kvh * group + r % group;
      sc.q[r] = a.q + (size_t(i) * a.n_heads + h) * hd;
      sc.last[r] = len - a.n_q + i;
      sc.first[r] = a.sliding_window > 0 ? std::max(0, sc.last[r] - a.sliding_window + 1) : 0;
      sc.m[r] = -std::numeric_limits<float>::infinity();
      sc.l[r] = 0.f;
      jlo = std::min(jlo, sc.first[r]);
      jhi = std::max(jhi, sc.last[r] + 1);
    }
    std::fill(sc.o.begin(), sc.o.begin() + size_t(rows) * hd, 0.f);
    for (int j0 = jlo; j0 < jhi; j0 += KB) {
      const int nk = std::min(KB, jhi - j0);
      transpose_block(sc.kt.data(), K, j0, nk, hd);
      int r = 0;
      for (; r + 4 <= rows; r += 4) scores_rows<4>(&sc.q[r], sc.kt.data(), hd, nk, a.scale, &sc.s[size_t(r) * KB]);
      switch (rows - r) {
        case 3: scores_rows<3>(&sc.q[r], sc.kt.data(), hd, nk, a.scale, &sc.s[size_t(r) * KB]); break;
        case 2: scores_rows<2>(&sc.q[r], sc.kt.data(), hd, nk, a.scale, &sc.s[size_t(r) * KB]); break;
        case 1: scores_rows<1>(&sc.q[r], sc.kt.data(), hd, nk, a.scale, &sc.s[size_t(r) * KB]); break;
        default: break;
      }
      for (int rr = 0; rr < rows; ++rr) {
        const int lo = std::max(sc.first[rr], j0) - j0, hi = std::min(sc.last[rr] + 1, j0 + nk) - j0;
        float* srow = &sc.s[size_t(rr) * KB];
        if (lo >= hi) {  // no visible key in this block: contribute nothing
          std::fill(srow, srow + KB, 0.f);
          continue;
        }
        online_softmax_row(srow, nk, lo, hi, sc.m[rr], sc.l[rr], &sc.o[size_t(rr) * hd], hd);
      }
      r = 0;
      for (; r + 4 <= rows; r += 4) pv_rows<4>(&sc.s[size_t(r) * KB], V, j0, nk, hd, &sc.o[size_t(r) * hd]);
      switch (rows - r) {
        case 3: pv_rows<3>(&sc.s[size_t(r) * KB], V, j0, nk, hd, &sc.o[size_t(r) * hd]); break;
        case 2: pv_rows<2>(&sc.s[size_t(r) * KB], V, j0, nk, hd, &sc.o[size_t(r) * hd]); break;
        case 1: pv_rows<1>(&sc.s[size_t(r) * KB], V, j0, nk, hd, &sc.o[size_t(r) * hd]); break;
        default: break;
      }
    }
    for (int r = 0; r < rows; ++r) {
      const int i = i0 + r / group, h = kvh * group + r % group;
      float* out = a.out + (size_t(i) * a.n_heads + h) * hd;
      const float inv = sc.l[r] > 0 ? 1.f / sc.l[r] : 0.f;
      for (int d = 0; d < hd; ++d) out[d] = sc.o[size_t(r) * hd + d] * inv;
    }
  });
}

}  // namespace pcomp::cpu
PCOMP_AVX2_END
