// The CUDA backend's entry points:
//   cuda_backend()        backend.h's host-pointer ops, each copying its inputs to the GPU and the
//                         result back (the op-level interface the tests compare with the CPU twin).
//                         matmul runs in fp32 for f32 weights and on the tensor cores for bf16
//                         weights; attention reads K/V rounded to bf16, as the CUDA forward's
//                         cache holds them.
//   pcomp_cuda_op_table() the CUDA-only ops of cuda_ops.h, same copy-in/copy-out style.
// The CUDA forward (forward_cuda.cu) calls the kernels directly on device buffers instead.
// Kernels are built for sm_80 and sm_90 only (bf16 tensor cores), so an older GPU is reported as
// unusable rather than failing at the first launch. cuBLAS is not used: the toolkit this project
// builds with in CI ships without it, and matmul.cu's kernels cover the shapes the model needs.
#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "add.cuh"
#include "attention.cuh"
#include "calib_outliers.cuh"
#include "cuda_ops.h"
#include "device_memory.cuh"
#include "device_session.cuh"
#include "embedding.cuh"
#include "kv_compact.cuh"
#include "kv_score.cuh"
#include "log_softmax_pick.cuh"
#include "matmul.cuh"
#include "rmsnorm.cuh"
#include "rope.cuh"
#include "silu_mul.cuh"
#include "topk.cuh"

namespace pcomp {
namespace cuda {

// Why the GPU cannot be used ("" when it can); checked once per process.
const std::string& gpu_problem() {
  static std::string problem = [] {
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      return std::string("no usable GPU: ") + cudaGetErrorString(err);
    }
    if (n == 0) return std::string("no usable GPU: 0 devices");
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return std::string("no usable GPU: cannot query device 0");
    if (prop.major < 8)
      return std::string("GPU ") + prop.name + " has compute capability " + std::to_string(prop.major) + "." +
             std::to_string(prop.minor) + "; the CUDA kernels need 8.0 or newer (bf16 tensor cores)";
    return std::string();
  }();
  return problem;
}

namespace {

std::mutex g_mu;  // the wrappers share one set of scratch buffers

struct Scratch {
  DevBuf<float> f[8];
  DevBuf<bf16> h[4];
  DevBuf<int32_t> i[4];
  AttentionWorkspace attn;
  KvScoreWorkspace score;
  TopkWorkspace topk;
  CalibWorkspace calib;
};
Scratch& scratch() {
  static Scratch* s = new Scratch();  // never destroyed: the CUDA runtime may be gone at exit
  return *s;
}

float* upload(DevBuf<float>& b, const float* src, size_t n) {
  b.grow(n);
  to_device(b.get(), src, n * sizeof(float));
  return b.get();
}
int32_t* upload(DevBuf<int32_t>& b, const int32_t* src, size_t n) {
  b.grow(n);
  to_device(b.get(), src, n * sizeof(int32_t));
  return b.get();
}
// Uploads f32 values through `tmp` and rounds them to bf16 on the device (round to nearest even).
bf16* upload_bf16(DevBuf<bf16>& b, DevBuf<float>& tmp, const float* src, size_t n) {
  upload(tmp, src, n);
  b.grow(n);
  convert_f32_to_bf16(b.get(), tmp.get(), n, 0);
  return b.get();
}
void finish() { PCOMP_CUDA_CHECK(cudaDeviceSynchronize()); }

// ---- backend.h ops ---------------------------------------------------------------------------------

void be_matmul(float* y, const float* x, Weight w, const float* bias, int T, int N, int K) {
  std::lock_guard<std::mutex> lock(g_mu);
  Scratch& s = scratch();
  const float* dx = upload(s.f[0], x, size_t(T) * K);
  const float* db = bias ? upload(s.f[2], bias, size_t(N)) : nullptr;
  s.f[3].grow(size_t(T) * N);
  if (w.type == WeightType::BF16) {
    // bf16 weights are the upper halves of f32 values: the bits of __nv_bfloat16 as they are.
    s.h[0].grow(size_t(N) * K);
    to_device(s.h[0].get(), w.bf16(), sizeof(uint16_t) * size_t(N) * K);
    matmul_bf16w(s.f[3].get(), dx, s.h[0].get(), db, T, N, K, 0);
  } else {
    const float* dw = upload(s.f[1], w.f32(), size_t(N) * K);
    matmul_f32(s.f[3].get(), dx, dw, db, T, N, K, 0);
  }
  finish();
  to_host(y, s.f[3].get(), sizeof(float) * size_t(T) * N);
}

void be_rmsnorm(float* out, const float* x, const float* w, int T, int D, float eps) {
  std::lock_guard<std::mutex> lock(g_mu);
  Scratch& s = scratch();
  float* dx = upload(s.f[0], x, size_t(T) * D);
  const float* dw = upload(s.f[1], w, size_t(D));
  rmsnorm_f32(dx, dx, dw, T, D, eps, 0);
  finish();
  to_host(out, dx, sizeof(float) * size_t(T) * D);
}

void be_rope(float* x, const int32_t* pos, const float* inv_freq, int T, int n_heads, int head_dim) {
  std::lock_guard<std::mutex> lock(g_mu);
  Scratch& s = scratch();
  const int half = head_dim / 2;
  float* dx = upload(s.f[0], x, size_t(T) * n_heads * head_dim);
  const float* dinv = upload(s.f[1], inv_freq, size_t(half));
  const int32_t* dpos = upload(s.i[0], pos, size_t(T));
  s.f[2].grow(size_t(T) * half * 2);
  float2* table = reinterpret_cast<float2*>(s.f[2].get());
  rope_table(table, dpos, dinv, nullptr, T, half, 0);
  rope_apply(dx, table, T, n_heads, head_dim, 0);
  finish();
  to_host(x, dx, sizeof(float) * size_t(T) * n_heads * head_dim);
}

// Runs items in one launch; the caller holds g_mu.
void attention_items(const AttentionArgs* items, int n_items, AttnKernel kernel) {
  if (n_items <= 0) return;
  Scratch& s = scratch();
  const AttentionArgs& a0 = items[0];
  const int H = a0.n_heads, KV = a0.n_kv_heads, hd = a0.head_dim;
  for (int i = 1; i < n_items; ++i)
    if (items[i].n_heads != H || items[i].n_kv_heads != KV || items[i].head_dim != hd || items[i].scale != a0.scale ||
        items[i].sliding_window != a0.sliding_window)
      throw std::runtime_error("attention batch: items must share head counts, head_dim, scale and window");
  // q rows of every item, stacked; K/V of every item padded to its longest head.
  std::vector<AttnItem> di(n_items);
  std::vector<int> lens(size_t(n_items) * KV);
  size_t q_rows = 0, kv_elems = 0;
  std::vector<size_t> kv_off(n_items);
  for (int i = 0; i < n_items; ++i) {
    int maxlen = 1;
    for (int h = 0; h < KV; ++h) maxlen = std::max(maxlen, items[i].kv_len[h]);
    kv_off[i] = kv_elems;
    kv_elems += size_t(KV) * maxlen * hd;
    di[i].q_row0 = int(q_rows);
    di[i].n_q = items[i].n_q;
    di[i].head_stride = (long long)maxlen * hd;
    di[i].len_off = i * KV;
    for (int h = 0; h < KV; ++h) lens[size_t(i) * KV + h] = items[i].kv_len[h];
    q_rows += size_t(items[i].n_q);
  }
  std::vector<float> hq(q_rows * H * hd), hk(kv_elems, 0.f), hv(kv_elems, 0.f);
  for (int i = 0; i < n_items; ++i) {
    std::copy(items[i].q, items[i].q + size_t(items[i].n_q) * H * hd, hq.begin() + size_t(di[i].q_row0) * H * hd);
    for (int h = 0; h < KV; ++h) {
      const size_t o = kv_off[i] + size_t(h) * di[i].head_stride;
      std::copy(items[i].k[h], items[i].k[h] + size_t(items[i].kv_len[h]) * hd, hk.begin() + o);
      std::copy(items[i].v[h], items[i].v[h] + size_t(items[i].kv_len[h]) * hd, hv.begin() + o);
    }
  }
  const float* dq = upload(s.f[0], hq.data(), hq.size());
  const bf16* dk = upload_bf16(s.h[0], s.f[1], hk.data(), hk.size());
  const bf16* dv = upload_bf16(s.h[1], s.f[2], hv.data(), hv.size());
  for (int i = 0; i < n_items; ++i) {
    di[i].k = dk + kv_off[i];
    di[i].v = dv + kv_off[i];
  }
  s.f[3].grow(hq.size());
  AttnParams p;
  p.q = dq;
  p.out = s.f[3].get();
  p.n_heads = H;
  p.n_kv_heads = KV;
  p.head_dim = hd;
  p.scale = a0.scale;
  p.sliding_window = a0.sliding_window;
  attention_batch(p, di.data(), n_items, lens.data(), s.attn, 0, kernel);
  finish();
  std::vector<float> out(hq.size());
  to_host(out.data(), s.f[3].get(), sizeof(float) * out.size());
  for (int i = 0; i < n_items; ++i)
    std::copy(out.begin() + size_t(di[i].q_row0) * H * hd, out.begin() + size_t(di[i].q_row0 + di[i].n_q) * H * hd,
              items[i].out);
}

void be_attention(const AttentionArgs& a) {
  std::lock_guard<std::mutex> lock(g_mu);
  attention_items(&a, 1, AttnKernel::Auto);
}

// x[i] = op(x[i], y[i]) on the device, for the element-wise ops that update their first operand in place.
void inplace_binary(float* x, const float* y, size_t n, void (*op)(float*, const float*, size_t, cudaStream_t)) {
  std::lock_guard<std::mutex> lock(g_mu);
  Scratch& s = scratch();
  float* dx = upload(s.f[0], x, n);
  const float* dy = upload(s.f[1], y, n);
  op(dx, dy, n, 0);
  finish();
  to_host(x, dx, sizeof(float) * n);
}

void be_silu_mul(float* gate, const float* up, size_t n) { inplace_binary(gate, up, n, silu_mul_f32); }

void be_add(float* x, const float* y, size_t n) { inplace_binary(x, y, n, add_f32); }

void be_log_softmax_pick(const float* logits, const int32_t* target, float* out_logprob, int32_t* out_argmax, int T,
                         int V) {
  std::lock_guard<std::mutex> lock(g_mu);
  Scratch& s = scratch();
  const float* dl = upload(s.f[0], logits, size_t(T) * V);
  const int32_t* dt = target ? upload(s.i[0], target, size_t(T)) : nullptr;
  s.f[1].grow(size_t(T));
  s.i[1].grow(size_t(T));
  log_softmax_pick_f32(dl, dt, out_logprob ? s.f[1].get() : nullptr, out_argmax ? s.i[1].get() : nullptr, T, V, 0);
  finish();
  if (out_logprob) to_host(out_logprob, s.f[1].get(), sizeof(float) * T);
  if (out_argmax) to_host(out_argmax, s.i[1].get(), sizeof(int32_t) * T);
}

bool be_supports(Op) { return true; }

// ---- cuda_ops.h ------------------------------------------------------------------------------------

void op_matmul_bf16w(float* y, const float* x, const float* w, const float* bias, int T, int N, int K) {
  std::lock_guard<std::mutex> lock(g_mu);
  Scratch& s = scratch();
  const float* dx = upload(s.f[0], x, size_t(T) * K);
  const bf16* dw = upload_bf16(s.h[0], s.f[1], w, size_t(N) * K);
  const float* db = bias ? upload(s.f[2], bias, size_t(N)) : nullptr;
  s.f[3].grow(size_t(T) * N);
  matmul_bf16w(s.f[3].get(), dx, dw, db, T, N, K, 0);
  finish();
  to_host(y, s.f[3].get(), sizeof(float) * size_t(T) * N);
}

void op_attention_batch(const AttentionArgs* items, int n_items, int kernel) {
  std::lock_guard<std::mutex> lock(g_mu);
  attention_items(items, n_items,
                  kernel == cuda_ops::ATTN_FLASH ? AttnKernel::Flash
                  : kernel == cuda_ops::ATTN_SPLIT ? AttnKernel::Split
                                                   : AttnKernel::Auto);
}

void op_kv_score(const cuda_ops::KvScoreArgs& a) {
  std::lock_guard<std::mutex> lock(g_mu);
  Scratch& s = scratch();
  const int KV = a.n_kv_heads, hd = a.head_dim;
  int maxlen = 1;
  for (int h = 0; h < KV; ++h) maxlen = std::max(maxlen, a.lens[h]);
  std::vector<float> hk(size_t(KV) * maxlen * hd, 0.f);
  for (int h = 0; h < KV; ++h) std::copy(a.k[h], a.k[h] + size_t(a.lens[h]) * hd, hk.begin() + size_t(h) * maxlen * hd);
  const float* dq = upload(s.f[0], a.q_obs, size_t(a.w) * a.n_heads * hd);
  const bf16* dk = upload_bf16(s.h[0], s.f[1], hk.data(), hk.size());
  const int n = a.cand_end - a.cand_start;
  s.f[2].grow(size_t(KV) * n);
  s.f[3].grow(size_t(KV) * n);
  kv_score(dq, a.w, dk, (long long)maxlen * hd, a.lens, a.n_heads, KV, hd, a.scale, a.cand_start, a.cand_end, a.weight,
           s.f[2].get(), s.score, 0);
  const float* result = s.f[2].get();
  if (a.pool_kernel > 1) {
    kv_score_pool(s.f[2].get(), s.f[3].get(), KV, n, a.pool_kernel, a.max_pool, 0);
    result = s.f[3].get();
  }
  finish();
  to_host(a.out, result, sizeof(float) * size_t(KV) * n);
}

void op_topk(const float* scores, int rows, int n, const int* ks, bool ties_low_first, int32_t* out) {
  std::lock_guard<std::mutex> lock(g_mu);
  Scratch& s = scratch();
  const float* ds = upload(s.f[0], scores, size_t(rows) * n);
  s.i[0].grow(size_t(rows) * n);
  topk_indices(ds, rows, n, n, ks, ties_low_first, s.i[0].get(), n, 0, s.topk, 0);
  finish();
  to_host(out, s.i[0].get(), sizeof(int32_t) * size_t(rows) * n);
}

void op_kv_gather(const float* k, const float* v, int len, int n_kv, int hd, const int32_t* keep, int count,
                  float* out_k, float* out_v) {
  std::lock_guard<std::mutex> lock(g_mu);
  Scratch& s = scratch();
  const size_t n_in = size_t(n_kv) * len * hd, n_out = size_t(n_kv) * count * hd;
  const bf16* dk = upload_bf16(s.h[0], s.f[0], k, n_in);
  const bf16* dv = upload_bf16(s.h[1], s.f[1], v, n_in);
  const int32_t* dkeep = upload(s.i[0], keep, size_t(n_kv) * count);
  s.h[2].grow(n_out);
  s.h[3].grow(n_out);
  kv_gather(s.h[2].get(), s.h[3].get(), (long long)count * hd, 0, dk, dv, (long long)len * hd, 0, dkeep, count, count,
            n_kv, hd, 0);
  s.f[2].grow(n_out);
  s.f[3].grow(n_out);
  convert_bf16_to_f32(s.f[2].get(), s.h[2].get(), n_out, 0);
  convert_bf16_to_f32(s.f[3].get(), s.h[3].get(), n_out, 0);
  finish();
  to_host(out_k, s.f[2].get(), sizeof(float) * n_out);
  to_host(out_v, s.f[3].get(), sizeof(float) * n_out);
}

void op_calib_select(const cuda_ops::CalibArgs& a) {
  std::lock_guard<std::mutex> lock(g_mu);
  Scratch& s = scratch();
  const float* ds = upload(s.f[0], a.scores, size_t(a.n_kv) * a.L);
  s.i[0].grow(size_t(a.n_kv) * a.L);
  CalibRule rule;
  rule.region = CalibRegion(a.region);  // 0 sink, 1 recent, 2 middle, 3 all, as the enum
  rule.threshold = a.threshold;
  rule.sink = a.sink;
  rule.recent = a.recent;
  rule.strict = a.strict;
  rule.equalise = a.equalise;
  calib_select(ds, a.n_kv, a.L, a.L, a.span_start, a.span_end, rule, s.i[0].get(), a.L, a.kept, a.outliers, s.calib, 0);
  finish();
  to_host(a.keep, s.i[0].get(), sizeof(int32_t) * size_t(a.n_kv) * a.L);
}

void op_embedding(const float* embed, int vocab, int D, const int32_t* tokens, int T, float* out) {
  std::lock_guard<std::mutex> lock(g_mu);
  Scratch& s = scratch();
  const bf16* de = upload_bf16(s.h[0], s.f[0], embed, size_t(vocab) * D);
  const int32_t* dt = upload(s.i[0], tokens, size_t(T));
  s.f[1].grow(size_t(T) * D);
  embedding_bf16(s.f[1].get(), de, dt, T, D, 0);
  finish();
  to_host(out, s.f[1].get(), sizeof(float) * size_t(T) * D);
}

}  // namespace
}  // namespace cuda

const Backend* cuda_backend(const char** why) {
  const std::string& problem = cuda::gpu_problem();
  if (!problem.empty()) {
    if (why) *why = problem.c_str();
    return nullptr;
  }
  static const Backend b{"cuda",
                         cuda::be_supports,
                         cuda::be_matmul,
                         cuda::be_rmsnorm,
                         cuda::be_rope,
                         cuda::be_attention,
                         cuda::be_silu_mul,
                         cuda::be_add,
                         cuda::be_log_softmax_pick};
  if (why) *why = "";
  return &b;
}

}  // namespace pcomp

extern "C" const pcomp::cuda_ops::OpTable* pcomp_cuda_op_table(const char** why) {
  const std::string& problem = pcomp::cuda::gpu_problem();
  if (!problem.empty()) {
    if (why) *why = problem.c_str();
    return nullptr;
  }
  using namespace pcomp::cuda;
  static const pcomp::cuda_ops::OpTable t{op_matmul_bf16w, op_attention_batch, op_kv_score,   op_topk,
                                          op_kv_gather,    op_calib_select,    op_embedding,  model_upload,
                                          model_random,    model_free,         model_bytes,   session_new,
                                          session_free,    seq_new,            seq_concat,    seq_length,
                                          session_forward, pipeline_run,       device_name};
  if (why) *why = "";
  return &t;
}
