// The CUDA backend: backend.h's interface on the GPU. Buffers are device memory (CudaBuffer, tracked
// by device_memory.cuh); every op is one or a few launches of the kernel named like its CPU twin
// (<op>.cu), on the default stream, with no host logic beyond packing launch arguments. The one
// pipeline (engine/src) drives it exactly as it drives the CPU backend.
//   dtypes: weight matrices bf16 (uploaded once, converted from f32 where the model holds f32),
//   the embedding table and everything else f32, the KV cache bf16 (kv_type), scores f64 in the
//   interface (computed in f32 by kv_score.cu, widened by the combine/pool kernel).
// Kernels are built for sm_80 and sm_90 only (bf16 tensor cores), so an older GPU is reported as
// unusable rather than failing at the first launch. cuBLAS is not used: the toolkit this project
// builds with in CI ships without it, and matmul.cu's kernels cover the shapes the model needs.
// Compile-checked in CI (no GPU there); test/native/test_backend_ops.cpp runs every op against the
// plain reference when a GPU is present, scripts/gpu-check.sh the whole pipeline matrix cuda vs cpu.
#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "../engine/src/backend/backend.h"
#include "add.cuh"
#include "scale.cuh"
#include "attention.cuh"
#include "attention_parts.cuh"
#include "calib_outliers.cuh"
#include "decode_attention.cuh"
#include "device_memory.cuh"
#include "embedding.cuh"
#include "fold_bins.cuh"
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

struct CudaBuffer final : Buffer {
  void* p = nullptr;
  size_t bytes = 0;
  ~CudaBuffer() override { dev_free(p); }
};

void* ptr(const Buffer* b) { return b ? static_cast<const CudaBuffer*>(b)->p : nullptr; }
template <class T = float>
T* P(const View& v) {
  return v.buf ? static_cast<T*>(ptr(v.buf)) + v.off : nullptr;
}
bf16* B(const Buffer* b) { return static_cast<bf16*>(ptr(b)); }

struct CudaBackend final : Backend {
  // Launch-argument scratch, reused across calls (a decode step allocates nothing once warm).
  mutable std::mutex mu;
  mutable AttentionWorkspace attn;
  mutable KvScoreWorkspace score;
  mutable TopkWorkspace topk_ws;
  mutable CalibWorkspace calib;
  mutable DevBuf<const bf16*> heads;
  mutable DevBuf<const float*> parts_q;
  mutable DevBuf<float> f32a, f32b;
  mutable DevBuf<bf16> bf16a, bf16b;
  mutable DevBuf<int32_t> i32a, i32b;
  mutable std::vector<const bf16*> host_heads;
  mutable std::vector<AttnItem> host_items;
  mutable std::vector<int> host_lens;
  mutable DevBuf<int> fold_rows, fold_lens;  // fold_bins' row -> set and set lengths

  const char* name() const override { return "cuda"; }

  Buffer* alloc(size_t bytes) const override {
    auto* b = new CudaBuffer();
    b->p = dev_alloc(bytes);
    b->bytes = bytes;
    return b;
  }
  void free(Buffer* b) const override { delete b; }
  Buffer* wrap(const void* host, size_t bytes) const override {
    Buffer* b = alloc(bytes);
    to_device(ptr(b), host, bytes);
    return b;
  }
  DeviceWeight weight(const Weight& w, size_t n) const override {
    DeviceWeight d;
    d.type = WeightType::BF16;
    d.buf = alloc(n * sizeof(bf16));
    if (w.type == WeightType::BF16) {
      to_device(ptr(d.buf), w.data, n * sizeof(bf16));  // the upper halves of f32: __nv_bfloat16's bits
    } else {
      DevBuf<float> tmp(n);  // freed at once: the scratch would otherwise keep the largest matrix's size
      to_device(tmp.get(), w.data, n * sizeof(float));
      convert_f32_to_bf16(B(d.buf), tmp.get(), n, 0);
      PCOMP_CUDA_CHECK(cudaDeviceSynchronize());
    }
    return d;
  }
  void upload(Buffer* dst, size_t off, const void* src, size_t bytes) const override {
    to_device(static_cast<char*>(ptr(dst)) + off, src, bytes);
  }
  void download(void* dst, const Buffer* src, size_t off, size_t bytes) const override {
    to_host(dst, static_cast<const char*>(ptr(src)) + off, bytes);  // synchronous: waits for the launches
  }
  void copy(Buffer* dst, size_t doff, const Buffer* src, size_t soff, size_t bytes) const override {
    if (bytes)
      PCOMP_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(ptr(dst)) + doff, static_cast<const char*>(ptr(src)) + soff,
                                       bytes, cudaMemcpyDeviceToDevice, 0));
  }
  WeightType kv_type() const override { return WeightType::BF16; }

  void matmul(View y, View x, const DeviceWeight& w, View bias, int T, int N, int K) const override {
    if (w.type == WeightType::BF16) matmul_bf16w(P(y), P(x), B(w.buf), P(bias), T, N, K, 0);
    else matmul_f32(P(y), P(x), static_cast<const float*>(ptr(w.buf)), P(bias), T, N, K, 0);
  }
  void rmsnorm(View out, View x, View w, int T, int D, float eps) const override {
    rmsnorm_f32(P(out), P(x), P(w), T, D, eps, 0);
  }
  void rope(View x, View pos, View inv_freq, int T, int n_heads, int head_dim) const override {
    std::lock_guard<std::mutex> lock(mu);
    f32b.grow(size_t(T) * head_dim);  // T * half float2
    float2* table = reinterpret_cast<float2*>(f32b.get());
    rope_table(table, P<int32_t>(pos), P(inv_freq), nullptr, T, head_dim / 2, 0);
    rope_apply(P(x), table, T, n_heads, head_dim, 0);
  }
  void silu_mul(View gate, View up, size_t n) const override { silu_mul_f32(P(gate), P(up), n, 0); }
  void add(View x, View y, size_t n) const override { add_f32(P(x), P(y), n, 0); }
  void scale(View x, float s, size_t n) const override { scale_f32(P(x), s, n, 0); }
  void embedding(View out, const DeviceWeight& table, View tokens, int T, int D) const override {
    if (table.type == WeightType::BF16) embedding_bf16(P(out), B(table.buf), P<int32_t>(tokens), T, D, 0);
    else embedding_f32(P(out), static_cast<const float*>(ptr(table.buf)), P<int32_t>(tokens), T, D, 0);
  }

  // Every item in one launch when their q/out rows share buffers (the forward's batch), else one
  // launch per item. K/V of each item's sets go to the kernel as device pointer tables.
  void attend(const AttentionArgs& a, AttnKernel kernel) const {
    if (a.n_items <= 0) return;
    std::lock_guard<std::mutex> lock(mu);
    const int H = a.n_heads, KV = a.n_kv_heads, hd = a.head_dim;
    const size_t row = size_t(H) * hd;
    bool one_launch = true;
    for (int i = 0; i < a.n_items; ++i) {
      const AttentionItem& it = a.items[i];
      one_launch = one_launch && it.q.buf == a.items[0].q.buf && it.out.buf == a.items[0].out.buf &&
                   it.q.off == it.out.off && it.q.off % row == 0;
    }
    host_heads.resize(size_t(a.n_items) * KV * 2);
    host_lens.resize(size_t(a.n_items) * KV);
    for (int i = 0; i < a.n_items; ++i)
      for (int h = 0; h < KV; ++h) {
        host_heads[(size_t(i) * 2) * KV + h] = B(a.items[i].k[h]);
        host_heads[(size_t(i) * 2 + 1) * KV + h] = B(a.items[i].v[h]);
        host_lens[size_t(i) * KV + h] = a.items[i].kv_len[h];
      }
    heads.grow(host_heads.size());
    to_device(heads.get(), host_heads.data(), host_heads.size() * sizeof(const bf16*));
    host_items.assign(size_t(a.n_items), AttnItem());
    for (int i = 0; i < a.n_items; ++i) {
      AttnItem& d = host_items[i];
      d.q_row0 = one_launch ? int(a.items[i].q.off / row) : 0;
      d.n_q = a.items[i].n_q;
      d.len_off = one_launch ? i * KV : 0;
      d.k_heads = heads.get() + (size_t(i) * 2) * KV;
      d.v_heads = heads.get() + (size_t(i) * 2 + 1) * KV;
    }
    AttnParams p;
    p.n_heads = H;
    p.n_kv_heads = KV;
    p.head_dim = hd;
    p.scale = a.scale;
    p.sliding_window = a.sliding_window;
    if (one_launch) {
      p.q = static_cast<const float*>(ptr(a.items[0].q.buf));
      p.out = static_cast<float*>(ptr(a.items[0].out.buf));
      attention_batch(p, host_items.data(), a.n_items, host_lens.data(), attn, 0, kernel);
      return;
    }
    for (int i = 0; i < a.n_items; ++i) {
      p.q = P(a.items[i].q);
      p.out = P(a.items[i].out);
      attention_batch(p, &host_items[i], 1, &host_lens[size_t(i) * KV], attn, 0, kernel);
      PCOMP_CUDA_CHECK(cudaStreamSynchronize(0));  // the workspace's launch arguments are reused
    }
  }
  void attention(const AttentionArgs& a) const override { attend(a, AttnKernel::Auto); }
  void decode_attention(const AttentionArgs& a) const override { attend(a, AttnKernel::Split); }

  void log_softmax_pick(View logits, View target, View logprob, View argmax, int T, int V) const override {
    log_softmax_pick_f32(P(logits), P<int32_t>(target), P(logprob), P<int32_t>(argmax), T, V, 0);
  }

  void kv_write(Buffer* dst, int row0, View src, size_t src_stride, int n, int head_dim) const override {
    kv_write_f32(B(dst), row0, P(src), src_stride, n, head_dim, 0);
  }
  void kv_gather(Buffer* k, Buffer* v, const int32_t* keep, int n, int head_dim) const override {
    if (n <= 0) return;
    std::lock_guard<std::mutex> lock(mu);
    const size_t elems = size_t(n) * head_dim;
    i32a.grow(size_t(n));
    to_device(i32a.get(), keep, sizeof(int32_t) * n);
    bf16a.grow(elems);
    bf16b.grow(elems);
    // Out of place (an in-place gather would race), then back.
    cuda::kv_gather(bf16a.get(), bf16b.get(), 0, 0, B(k), B(v), 0, 0, i32a.get(), 0, n, 1, head_dim, 0);
    PCOMP_CUDA_CHECK(cudaMemcpyAsync(B(k), bf16a.get(), elems * sizeof(bf16), cudaMemcpyDeviceToDevice, 0));
    PCOMP_CUDA_CHECK(cudaMemcpyAsync(B(v), bf16b.get(), elems * sizeof(bf16), cudaMemcpyDeviceToDevice, 0));
    PCOMP_CUDA_CHECK(cudaStreamSynchronize(0));
  }
  void kv_rope_shift(Buffer* k, int row0, int n, int head_dim, View inv_freq, int delta) const override {
    if (n <= 0) return;
    std::lock_guard<std::mutex> lock(mu);
    const size_t elems = size_t(n) * head_dim;
    bf16* rows = B(k) + size_t(row0) * head_dim;
    f32a.grow(elems);
    f32b.grow(elems);
    const std::vector<int32_t> shift(size_t(n), delta);
    i32a.grow(size_t(n));
    to_device(i32a.get(), shift.data(), sizeof(int32_t) * n);
    convert_bf16_to_f32(f32a.get(), rows, elems, 0);
    float2* table = reinterpret_cast<float2*>(f32b.get());
    rope_table(table, i32a.get(), P(inv_freq), nullptr, n, head_dim / 2, 0);
    rope_apply(f32a.get(), table, n, 1, head_dim, 0);
    convert_f32_to_bf16(rows, f32a.get(), elems, 0);
    PCOMP_CUDA_CHECK(cudaStreamSynchronize(0));
  }

  // Per query head (virtual KV heads: head h reads its set's rows), then the group combine and the
  // pooling into f64.
  void kv_score(const KvScoreArgs& a) const override {
    const int nc = a.cand_end - a.cand_start, H = a.n_heads, per = H / a.n_sets, w = a.n_q - a.row0;
    if (nc <= 0) return;
    std::lock_guard<std::mutex> lock(mu);
    host_heads.resize(size_t(H));
    host_lens.resize(size_t(H));
    for (int h = 0; h < H; ++h) {
      host_heads[h] = B(a.k[h / per]);
      host_lens[h] = a.kv_len[h / per];
    }
    std::vector<int> vis;
    if (a.visible) {
      vis.resize(size_t(w) * H);
      for (int r = 0; r < w; ++r)
        for (int h = 0; h < H; ++h) vis[size_t(r) * H + h] = a.visible[size_t(r) * a.n_sets + h / per];
    }
    heads.grow(size_t(H));
    to_device(heads.get(), host_heads.data(), sizeof(const bf16*) * H);
    f32a.grow(size_t(H) * nc);
    cuda::kv_score(P(a.q) + size_t(a.row0) * H * a.head_dim, w, heads.get(), host_lens.data(),
                   a.visible ? vis.data() : nullptr, H, H, a.head_dim, float(a.scale), a.cand_start, a.cand_end,
                   float(1.0 / a.div), f32a.get(), score, 0);
    const int mode = a.combine == HeadCombine::None ? 0 : a.combine == HeadCombine::GroupSum ? 1
                     : a.combine == HeadCombine::GroupMean ? 2 : 3;
    kv_score_combine_pool(f32a.get(), H, a.combine == HeadCombine::None ? H : a.n_groups, mode, nc, a.pool_kernel,
                          a.max_pool, P<double>(a.out), 0);
    PCOMP_CUDA_CHECK(cudaStreamSynchronize(0));
  }
  void topk(View scores, int rows, int n, const int* k, View out) const override {
    std::lock_guard<std::mutex> lock(mu);
    topk_indices_f64(P<double>(scores), rows, n, k, /*ties_low_first=*/true, P<int32_t>(out), n, topk_ws, 0);
    PCOMP_CUDA_CHECK(cudaStreamSynchronize(0));
  }
  // calib_select writes the kept indices; the interface asks for the evicted ones: the complement,
  // formed on the host (a row of L indices per head, once per calibrated layer).
  void calib_outliers(const CalibArgs& a) const override {
    std::lock_guard<std::mutex> lock(mu);
    f32a.grow(size_t(a.rows) * a.L);
    std::vector<double> s64(size_t(a.rows) * a.L);
    to_host(s64.data(), P<double>(a.score), s64.size() * sizeof(double));
    std::vector<float> s32(s64.begin(), s64.end());
    to_device(f32a.get(), s32.data(), s32.size() * sizeof(float));
    CalibSelect rule;
    rule.region = int(a.region);  // Sink, Recent, Middle, All: 0..3 as calib_outliers.cu numbers them
    rule.threshold = float(a.threshold);
    rule.sink = a.sink;
    rule.recent = a.recent;
    rule.strict = a.strict;
    rule.equalise = a.equalise;
    i32a.grow(size_t(a.rows) * a.L);
    std::vector<int> kept(size_t(a.rows));
    calib_select(f32a.get(), a.rows, a.L, a.L, a.span_start, a.span_end, rule, i32a.get(), a.L, kept.data(), nullptr,
                 calib, 0);
    std::vector<int32_t> keep(size_t(a.rows) * a.L), evict(size_t(a.rows) * a.L, 0), count(size_t(a.rows));
    to_host(keep.data(), i32a.get(), keep.size() * sizeof(int32_t));
    for (int r = 0; r < a.rows; ++r) {
      std::vector<char> in(size_t(a.L), 0);
      for (int i = 0; i < kept[r]; ++i) in[keep[size_t(r) * a.L + i]] = 1;
      int c = 0;
      for (int j = 0; j < a.L; ++j)
        if (!in[j]) evict[size_t(r) * a.L + c++] = j;
      count[r] = c;
    }
    to_device(P<int32_t>(a.evict), evict.data(), evict.size() * sizeof(int32_t));
    to_device(P<int32_t>(a.count), count.data(), count.size() * sizeof(int32_t));
  }

  // ---- attention trace (pcomp attn) ----
  void fold_bins(const FoldBinsArgs& a) const override {
    std::lock_guard<std::mutex> lock(mu);
    fold_rows.grow(size_t(std::max(a.rows, 1)));
    fold_lens.grow(size_t(std::max(a.n_sets, 1)));
    if (a.rows > 0) to_device(fold_rows.get(), a.row_set, sizeof(int) * a.rows);
    if (a.n_sets > 0) to_device(fold_lens.get(), a.len, sizeof(int) * a.n_sets);
    cuda::fold_bins(P<double>(a.score), a.rows, a.L, fold_rows.get(), fold_lens.get(), P<int32_t>(a.bin), a.n_bins,
                    P<double>(a.out), 0);
    PCOMP_CUDA_CHECK(cudaStreamSynchronize(0));
  }

  // ---- baselines' ops (ChunkLlama) --------------------------------------------------------------
  void attention_parts(const AttentionPartsArgs& a) const override {
    std::lock_guard<std::mutex> lock(mu);
    const int H = a.n_heads, per = H / a.n_kv_heads, P_ = a.n_parts;
    std::vector<const float*> qs(static_cast<size_t>(P_));
    for (int p = 0; p < P_; ++p) qs[p] = P(a.q[p]);
    std::vector<const bf16*> kv(size_t(2) * H);
    for (int h = 0; h < H; ++h) {
      kv[h] = B(a.k[h / per]);
      kv[H + h] = B(a.v[h / per]);
    }
    std::vector<int32_t> ranges(size_t(2) * P_ * a.n_q);
    std::copy(a.lo, a.lo + size_t(P_) * a.n_q, ranges.begin());
    std::copy(a.hi, a.hi + size_t(P_) * a.n_q, ranges.begin() + size_t(P_) * a.n_q);
    parts_q.grow(size_t(P_));
    heads.grow(size_t(2) * H);
    i32a.grow(ranges.size());
    to_device(parts_q.get(), qs.data(), sizeof(const float*) * P_);
    to_device(heads.get(), kv.data(), sizeof(const bf16*) * kv.size());
    to_device(i32a.get(), ranges.data(), sizeof(int32_t) * ranges.size());
    cuda::attention_parts(parts_q.get(), P_, i32a.get(), i32a.get() + size_t(P_) * a.n_q, heads.get(), heads.get() + H,
                          a.n_q, H, a.head_dim, a.scale, P(a.out), 0);
    PCOMP_CUDA_CHECK(cudaStreamSynchronize(0));
  }
};

}  // namespace
}  // namespace cuda

const Backend* cuda_backend(const char** why) {
  const std::string& problem = cuda::gpu_problem();
  if (!problem.empty()) {
    if (why) *why = problem.c_str();
    return nullptr;
  }
  static const cuda::CudaBackend* b = new cuda::CudaBackend();  // never destroyed: the runtime may be gone at exit
  if (why) *why = "";
  return b;
}

}  // namespace pcomp
