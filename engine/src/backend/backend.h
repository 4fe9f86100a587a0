// The whole device interface of the engine (ggml's shape: one description of the work, devices
// differ only in how each op runs). The forward pass (forward.cpp), the KV cache (kv_cache.cpp) and
// every policy stage (policy/) reach device memory only through a Backend:
//   - Buffers are opaque handles. Pipeline code holds Buffer* and element offsets (View) and cannot
//     dereference them; whatever must reach the host (logits for decoding, target log-probs, chunk
//     scores, kept indices) crosses by an explicit download() that every backend implements.
//   - The KV cache's storage is backend buffers, in the backend's KV dtype (kv_type()).
//   - Every op the forward and the stages need is a method here, implemented by the CPU backend
//     (backend/cpu, always built) and by the CUDA backend (cuda/, one file per op named like its CPU
//     twin). No op may be declined: the one pipeline runs on either device.
// So the test matrix that runs on the CPU backend exercises exactly the calls the GPU receives, and
// test/native/test_backend_ops.cpp checks every op of every present backend against a plain reference.
//
// Dtypes: activations, norms, biases and RoPE tables are f32; ids and indices i32; scores f64 (the
// CPU computes selection scores in double so kept sets match the float64 oracle exactly); weight
// matrices and the embedding table in the device's dtype (DeviceWeight); KV rows in kv_type().
// View offsets count elements of the op argument's dtype; memory calls count bytes.
// Ops on host-backed buffers (CPU) are direct calls on the host pointers: no copy, no allocation.
#pragma once
#include <cstddef>
#include <cstdint>

namespace pcomp {

// A weight matrix as the model stores it on the host: f32, or bf16 (the upper 16 bits of an f32)
// that kernels widen to f32 in registers and accumulate in f32.
enum class WeightType : uint8_t { F32, BF16 };
struct Weight {
  const void* data = nullptr;
  WeightType type = WeightType::F32;
  Weight() = default;
  Weight(const float* p) : data(p) {}  // implicit, so f32 callers pass a plain pointer
  static Weight from_bf16(const uint16_t* p) {
    Weight w;
    w.data = p;
    w.type = WeightType::BF16;
    return w;
  }
  const float* f32() const { return type == WeightType::F32 ? static_cast<const float*>(data) : nullptr; }
  const uint16_t* bf16() const { return type == WeightType::BF16 ? static_cast<const uint16_t*>(data) : nullptr; }
};

// Device memory. Each backend derives its own buffer type; nothing outside the backend sees inside.
class Buffer {
 public:
  virtual ~Buffer() = default;

 protected:
  Buffer() = default;
};

// An element offset into a buffer (the element type is the op argument's).
struct View {
  Buffer* buf = nullptr;
  size_t off = 0;
  View() = default;
  View(Buffer* b, size_t o = 0) : buf(b), off(o) {}
  View at(size_t n) const { return View(buf, off + n); }
  explicit operator bool() const { return buf != nullptr; }
};

// A weight matrix (or the embedding table) on the device, in the device's dtype.
struct DeviceWeight {
  Buffer* buf = nullptr;
  WeightType type = WeightType::F32;
};

// One sequence's part of an attention call for one layer. KV set h holds kv_len[h] rows; the item's
// n_q new tokens are the last n_q rows of each set, in order, so query i sees rows
// [0, kv_len[h] - n_q + i] (causal by cache order, not by position id), or only the last
// `sliding_window` of them. Query head h reads set h / (n_heads / n_kv_heads) (GQA; an expanded
// cache has n_kv_heads == n_heads).
struct AttentionItem {
  int n_q = 0;
  View q;                           // [n_q, n_heads*head_dim] f32, RoPE applied
  View out;                         // [n_q, n_heads*head_dim] f32
  Buffer* const* k = nullptr;       // per set: [kv_len[h], head_dim] rows in kv_type()
  Buffer* const* v = nullptr;
  const int* kv_len = nullptr;      // per set (host)
};
struct AttentionArgs {
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float scale = 1.0f;               // usually 1/sqrt(head_dim)
  int sliding_window = 0;           // 0: none
  const AttentionItem* items = nullptr;  // varlen: every item in one call
  int n_items = 0;
};

// How kv_score combines the query heads of a group (group = n_heads / n_groups).
enum class HeadCombine : uint8_t { None, GroupSum, GroupMean, GroupMax };

// The observation-window KV score (SnapKV's cumulative attention, calibration's mean attention):
// for each query head h and scoring row r in [row0, n_q), softmax over the keys row r may see of
// h's set, each probability divided by `div`, summed over the rows into raw[h][j - cand_start] for
// j in [cand_start, cand_end); then the group combine (None: one row per query head) and, when
// pool_kernel > 1, 1-D pooling along the keys (max: positions outside never win, as torch's -inf
// padding; avg: divides by the kernel, as avg_pool1d counts the zero padding). Row r sees keys
// [0, visible[(r - row0) * n_sets + set]) when `visible` is given, else [0, kv_len - n_q + r].
struct KvScoreArgs {
  View q;                           // [n_q, n_heads*head_dim] f32, RoPE applied
  int n_q = 0, row0 = 0, n_heads = 0, n_sets = 0, head_dim = 0;
  Buffer* const* k = nullptr;       // per set
  const int* kv_len = nullptr;      // per set (host)
  const int* visible = nullptr;     // host, optional
  int cand_start = 0, cand_end = 0;
  double scale = 1.0, div = 1.0;
  HeadCombine combine = HeadCombine::None;
  int n_groups = 0;                 // rows of the output: n_heads (None) or the KV head count
  int pool_kernel = 0;
  bool max_pool = true;
  View out;                         // [n_groups, cand_end - cand_start] f64
};

// Calibration outliers (paper Eq. 8) with per-head equalisation, on score [rows, L] (f64): per row,
// keys j in [span_start, span_end) with score > threshold whose offset p = j - span_start lies in the
// region (n = span length; half-open: sink p < S, recent p >= n - R, middle S <= p < n - R; strict:
// recent p > n - R, middle S < p < n - R; all: the span). Equalise: every row evicts as many as the
// row with most, padding with its lowest-scored other keys of the span (stable: lower index first).
enum class CalibRegion : uint8_t { Sink, Recent, Middle, All };
struct CalibArgs {
  View score;                       // [rows, L] f64
  int rows = 0, L = 0, span_start = 0, span_end = 0;
  CalibRegion region = CalibRegion::All;
  double threshold = 0;
  int sink = 0, recent = 0;
  bool strict = false, equalise = true;
  View evict;                       // [rows, L] i32: row r's evicted indices ascending, count[r] of them
  View count;                       // [rows] i32
};

// ---- attention trace (pcomp attn) ---------------------------------------------------------------
// Folds per-key masses into bins: out[r][b] = sum of score[r][j] over j < len[row_set[r]] with
// bin[row_set[r]][j] == b (keys whose bin is < 0 or >= n_bins count nowhere). score [rows, L] f64
// (row stride L), bin [n_sets, L] i32 (set stride L), out [rows, n_bins] f64 (overwritten).
struct FoldBinsArgs {
  View score;
  int rows = 0, L = 0;
  const int* row_set = nullptr;     // host [rows]: the set (bin map) of each row
  const int* len = nullptr;         // host [n_sets]: keys [0, len[s]) of set s count
  View bin;
  int n_sets = 0, n_bins = 0;
  View out;
};

// ---- attention over parts (Dual Chunk Attention, ChunkLlama) -----------------------------------
// One softmax over the union of P parts: part p's query rows q[p] (each RoPE'd at its own remapped
// position) see keys [lo[p*n_q + r], hi[p*n_q + r]) of every set (an empty range adds nothing), so
// out[r] = sum over parts and their keys of softmax(scale * q_p[r] . k_j) v_j, exactly as one
// attention whose score of key j comes from the part that covers it. Query head h reads set
// h / (n_heads / n_kv_heads). A row no part covers gets zeros.
struct AttentionPartsArgs {
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float scale = 1.0f;
  int n_q = 0, n_parts = 0;
  const View* q = nullptr;          // per part: [n_q, n_heads*head_dim] f32
  const int32_t* lo = nullptr;      // host [n_parts * n_q]
  const int32_t* hi = nullptr;      // host [n_parts * n_q]
  Buffer* const* k = nullptr;       // per set: rows in kv_type()
  Buffer* const* v = nullptr;
  View out;                         // [n_q, n_heads*head_dim] f32
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // ---- memory ----------------------------------------------------------------------------------
  virtual Buffer* alloc(size_t bytes) const = 0;  // contents undefined
  virtual void free(Buffer* b) const = 0;         // null is a no-op
  // A read-only buffer holding `bytes` of host memory for the buffer's life: the CPU backend points
  // at the host memory (no copy; it must outlive the buffer), a device backend copies it.
  virtual Buffer* wrap(const void* host, size_t bytes) const = 0;
  // A weight matrix (n elements) in the device's dtype: the CPU keeps the model's f32/bf16 storage
  // (no copy); CUDA uploads bf16.
  virtual DeviceWeight weight(const Weight& w, size_t n) const = 0;
  virtual void upload(Buffer* dst, size_t dst_off, const void* src, size_t bytes) const = 0;
  virtual void download(void* dst, const Buffer* src, size_t src_off, size_t bytes) const = 0;
  virtual void copy(Buffer* dst, size_t dst_off, const Buffer* src, size_t src_off, size_t bytes) const = 0;
  // The KV cache's element type (F32 on the CPU) and its size in bytes.
  virtual WeightType kv_type() const = 0;
  size_t kv_elem_bytes() const { return kv_type() == WeightType::BF16 ? 2 : 4; }

  // ---- the forward's ops -----------------------------------------------------------------------
  // y[t, n] = sum_k x[t, k] * w[n, k] + (bias ? bias[n] : 0); w an nn.Linear weight [N, K]. y must not alias x.
  virtual void matmul(View y, View x, const DeviceWeight& w, View bias, int T, int N, int K) const = 0;
  // out[t, :] = x[t, :] / sqrt(mean(x[t, :]^2) + eps) * w  (out may alias x)
  virtual void rmsnorm(View out, View x, View w, int T, int D, float eps) const = 0;
  // In-place rotate_half RoPE on x[t, h*hd .. (h+1)*hd) with angle pos[t] * inv_freq[i] (i32 pos,
  // f32 inv_freq [head_dim/2]); angles in double (positions reach 128K).
  virtual void rope(View x, View pos, View inv_freq, int T, int n_heads, int head_dim) const = 0;
  // gate[i] = silu(gate[i]) * up[i]
  virtual void silu_mul(View gate, View up, size_t n) const = 0;
  // x[i] += y[i]
  virtual void add(View x, View y, size_t n) const = 0;
  // out[t, :] = table[tokens[t], :] widened to f32 (token ids checked on the host).
  virtual void embedding(View out, const DeviceWeight& table, View tokens, int T, int D) const = 0;
  // Prefill attention (tiled online softmax; never the score matrix), every item of a batch at once.
  virtual void attention(const AttentionArgs& a) const = 0;
  // The same op when every item brings few rows (decode): a backend may split along the keys.
  virtual void decode_attention(const AttentionArgs& a) const = 0;
  // Per row t: logprob[t] = log_softmax(logits[t, :])[target[t]] (0 where target < 0 or no target);
  // argmax[t] = first index of the maximum. target, logprob, argmax may each be empty views.
  virtual void log_softmax_pick(View logits, View target, View logprob, View argmax, int T, int V) const = 0;

  // ---- the KV cache's ops (kv buffers hold [rows, head_dim] in kv_type()) ---------------------
  // dst rows [row0, row0 + n) = src rows t (f32, src + t * src_stride, head_dim values each).
  virtual void kv_write(Buffer* dst, int row0, View src, size_t src_stride, int n, int head_dim) const = 0;
  // In place: row i = row keep[i] for i < n (keep host, strictly increasing), in both k and v.
  virtual void kv_gather(Buffer* k, Buffer* v, const int32_t* keep, int n, int head_dim) const = 0;
  // Re-rotates key rows [row0, row0 + n) by `delta` positions: R(p + delta) k = R(delta) R(p) k.
  virtual void kv_rope_shift(Buffer* k, int row0, int n, int head_dim, View inv_freq, int delta) const = 0;

  // ---- the policy stages' ops ------------------------------------------------------------------
  virtual void kv_score(const KvScoreArgs& a) const = 0;
  // Per row r of scores [rows, n] (f64): the indices of its k[r] largest (ties to the lower index),
  // ascending, into out[r * n ..) (i32). k: host, clamped to [0, n].
  virtual void topk(View scores, int rows, int n, const int* k, View out) const = 0;
  virtual void calib_outliers(const CalibArgs& a) const = 0;

  // ---- attention trace (pcomp attn) -------------------------------------------------------------
  virtual void fold_bins(const FoldBinsArgs& a) const = 0;

  // ---- model families' ops (Qwen3 / YaRN, issue 19) ---------------------------------------------
  // x[i] *= s (YaRN's attention factor on q and k after RoPE).
  virtual void scale(View x, float s, size_t n) const = 0;

  // ---- baselines' ops (ChunkLlama) ----------------------------------------------------------
  virtual void attention_parts(const AttentionPartsArgs& a) const = 0;
};

const Backend& cpu_backend();
// The CUDA backend, or nullptr when it was not compiled in or no GPU is usable; `why` explains.
const Backend* cuda_backend(const char** why);

// A backend buffer that frees itself; grow() discards the contents.
class DeviceArray {
 public:
  DeviceArray() = default;
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() { reset(); }
  void grow(const Backend& be, size_t bytes) {
    if (be_ == &be && bytes <= bytes_) return;
    reset();
    be_ = &be;
    buf_ = be.alloc(bytes);
    bytes_ = bytes;
  }
  void reset() {
    if (be_) be_->free(buf_);
    be_ = nullptr;
    buf_ = nullptr;
    bytes_ = 0;
  }
  Buffer* get() const { return buf_; }
  View view(size_t off = 0) const { return View(buf_, off); }
  size_t bytes() const { return bytes_; }

 private:
  const Backend* be_ = nullptr;
  Buffer* buf_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace pcomp
