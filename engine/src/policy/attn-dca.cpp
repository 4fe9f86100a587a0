// attn-dca: ChunkLlama's Dual Chunk Attention (An et al., "Training-Free Long-Context Scaling of
// Large Language Models", ICML 2024, Sec. 3; the ParallelComp paper's 'ChunkLlama' rows, Tables 1-3),
// on the whole prompt. With chunk size s and local window w, chunks hold c = s - w tokens; the token
// at absolute index p (chunk n = p / c, offset i = p % c) is cached with its key at position i, and
// its query attends, in one softmax:
//   intra-chunk   keys of its own chunk up to itself, query position i (distance i - j, as usual);
//   successive    every key of chunk n - 1, query position min(i + c, s) (the true distance up to s);
//   inter-chunk   every key of chunks 0 .. n - 2, query position min(2c - 1, s) (one large distance).
// No remapped distance exceeds s, which defaults below the trained window (s = 3/4 of it, w = 1/16,
// the released code's replace_with_chunkllama defaults). The three parts are one backend
// attention_parts call (one softmax over their union, the exact log-sum-exp merge of the released
// code's flash partials); the successive and inter queries are the cached query re-rotated by the
// position difference (RoPE rotations compose). Prefill, scored eval tokens and decoding all go
// through the same hook; the cache holds every token in order (no eviction), so a cache row is an
// absolute index. With one chunk (prompt + decode within c tokens) this is full attention exactly.
// Reference: test/oracle/policies/attn-dca.ts.
#include <algorithm>

#include "../error.h"
#include "run.h"

namespace pcomp {
namespace {
struct DcaSizes {
  int s = 0, w = 0, c = 0;
};
DcaSizes dca_sizes(const PolicyConfig& cfg, const ModelConfig& mc) {
  DcaSizes z;
  z.s = cfg.dca_chunk_size > 0 ? cfg.dca_chunk_size : mc.max_pos * 3 / 4;
  z.w = cfg.dca_local_window > 0 ? cfg.dca_local_window : mc.max_pos / 16;
  z.c = z.s - z.w;
  if (z.c < 1)
    throw EngineError("config: dca.localWindow (" + std::to_string(z.w) + ") must be below dca.chunkSize (" +
                      std::to_string(z.s) + ")");
  return z;
}

struct DcaHook : LayerHook {
  RunContext& ctx;
  DcaSizes z;
  DeviceArray qs, dpos;
  std::vector<int32_t> delta, lo, hi;
  explicit DcaHook(RunContext& c) : ctx(c), z(dca_sizes(c.cfg, c.model.cfg)) {}
  bool attention(int, int item, const AttentionArgs& a, KVCache&, int) override {
    if (a.sliding_window > 0) throw EngineError("attn-dca: models with a sliding window are not supported");
    const Backend& be = ctx.be;
    const AttentionItem& it = a.items[0];
    const int n = it.n_q, H = a.n_heads, hd = a.head_dim, L = it.kv_len[0], first = L - n;
    const size_t rowsz = size_t(n) * H * hd;
    qs.grow(be, 2 * rowsz * sizeof(float));
    dpos.grow(be, 2 * size_t(n) * sizeof(int32_t));
    be.copy(qs.get(), 0, it.q.buf, it.q.off * sizeof(float), rowsz * sizeof(float));
    be.copy(qs.get(), rowsz * sizeof(float), it.q.buf, it.q.off * sizeof(float), rowsz * sizeof(float));
    delta.assign(2 * size_t(n), 0);
    lo.assign(3 * size_t(n), 0);
    hi.assign(3 * size_t(n), 0);
    const int q_succ_cap = z.s, q_inter = std::min(2 * z.c - 1, z.s);
    for (int r = 0; r < n; ++r) {
      const int p = first + r, ch = p / z.c, i = p % z.c;
      delta[r] = std::min(i + z.c, q_succ_cap) - i;
      delta[n + r] = q_inter - i;
      lo[r] = ch * z.c;
      hi[r] = p + 1;
      if (ch >= 1) lo[n + r] = (ch - 1) * z.c, hi[n + r] = ch * z.c;
      if (ch >= 2) lo[2 * n + r] = 0, hi[2 * n + r] = (ch - 1) * z.c;
    }
    be.upload(dpos.get(), 0, delta.data(), delta.size() * sizeof(int32_t));
    const View invf = ctx.ws.inv_freq.view(size_t(item) * (hd / 2));
    be.rope(qs.view(0), dpos.view(0), invf, n, H, hd);
    be.rope(qs.view(rowsz), dpos.view(n), invf, n, H, hd);
    const View parts[3] = {it.q, qs.view(0), qs.view(rowsz)};
    AttentionPartsArgs pa;
    pa.n_heads = H;
    pa.n_kv_heads = a.n_kv_heads;
    pa.head_dim = hd;
    pa.scale = a.scale;
    pa.n_q = n;
    pa.n_parts = 3;
    pa.q = parts;
    pa.lo = lo.data();
    pa.hi = hi.data();
    pa.k = it.k;
    pa.v = it.v;
    pa.out = it.out;
    be.attention_parts(pa);
    return true;
  }
};
}  // namespace

int32_t attn_dca_position(const RunContext& ctx, int p) { return p % dca_sizes(ctx.cfg, ctx.model.cfg).c; }

std::unique_ptr<LayerHook> attn_dca_hook(RunContext& ctx) { return std::make_unique<DcaHook>(ctx); }

}  // namespace pcomp
