// See forward_cuda.cuh. Op order per layer and micro-batch mirrors forward() in
// engine/src/forward.cpp line for line, so the two can be compared token by token.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "add.cuh"
#include "embedding.cuh"
#include "forward_cuda.cuh"
#include "kv_compact.cuh"
#include "log_softmax_pick.cuh"
#include "matmul.cuh"
#include "rmsnorm.cuh"
#include "rope.cuh"
#include "silu_mul.cuh"

namespace pcomp {
namespace cuda {

namespace {

// A contiguous run of one item's new tokens inside one micro-batch.
struct Part {
  int item, i0, i1;  // token range within the item
  int t0;            // global token index of i0
  bool last;         // holds the item's last token
};

struct MicroBatch {
  int t0, t1;
  std::vector<Part> parts;
};

// Whole items while they fit; an item longer than the budget is cut into budget-sized parts, the
// last part keeping at least `tail` rows so a hook sees the item's final rows together.
std::vector<MicroBatch> plan(const std::vector<CudaSeqInput>& items, int budget, int tail) {
  std::vector<MicroBatch> out;
  MicroBatch cur{0, 0, {}};
  int t = 0;
  for (int s = 0; s < int(items.size()); ++s) {
    const int n = items[s].n;
    int i = 0;
    while (i < n) {
      int room = budget - (cur.t1 - cur.t0);
      if (room <= 0) {
        out.push_back(cur);
        cur = MicroBatch{t, t, {}};
        room = budget;
      }
      int take = std::min(room, n - i);
      const int left = n - i - take;
      if (left > 0 && left < tail) take = std::max(1, take - (tail - left));
      cur.parts.push_back(Part{s, i, i + take, t, i + take == n});
      cur.t1 += take;
      t += take;
      i += take;
    }
  }
  if (cur.t1 > cur.t0) out.push_back(cur);
  return out;
}

}  // namespace

void forward_cuda(const DeviceModel& m, DeviceKVCache& cache, const std::vector<CudaSeqInput>& items,
                  const CudaForwardOptions& opt, CudaWorkspace& ws) {
  const ModelConfig& c = m.cfg;
  const int D = c.dim, hd = c.head_dim, H = c.n_heads, KV = c.n_kv_heads, F = c.hidden, V = c.vocab, half = hd / 2;
  const cudaStream_t st = ws.stream;
  int T = 0;
  for (const auto& it : items) {
    if (!cache.live(it.seq)) throw std::runtime_error("forward_cuda: sequence " + std::to_string(it.seq) + " does not exist");
    if (it.n <= 0) throw std::runtime_error("forward_cuda: every sequence needs at least one new token");
    for (int i = 0; i < it.n; ++i)
      if (it.tokens[i] < 0 || it.tokens[i] >= V)
        throw std::runtime_error("token id " + std::to_string(it.tokens[i]) + " is outside the vocabulary (size " +
                                 std::to_string(V) + ")");
    T += it.n;
  }
  if (T == 0) return;
  const int n_items = int(items.size());
  const int B = std::max(1, std::min(opt.max_batch_tokens, T));

  // Host-side per-token tables: ids, positions, which item's inv_freq row.
  std::vector<int32_t> tok(T), pos(T), frow(T);
  std::vector<float> invf(size_t(n_items) * half);
  const RopeParams rope = opt.rope ? *opt.rope : m.rope;
  {
    int off = 0;
    for (int s = 0; s < n_items; ++s) {
      int maxp = 0;
      for (int i = 0; i < items[s].n; ++i) {
        tok[off + i] = items[s].tokens[i];
        pos[off + i] = items[s].positions ? items[s].positions[i] : i;
        frow[off + i] = s;
        maxp = std::max(maxp, pos[off + i]);
      }
      m.inv_freq(rope, hd, maxp, &invf[size_t(s) * half]);
      off += items[s].n;
    }
  }
  ws.tokens.grow(T); ws.pos.grow(T); ws.freq_row.grow(T);
  ws.inv_freq.grow(invf.size());
  to_device(ws.tokens.get(), tok.data(), sizeof(int32_t) * T);
  to_device(ws.pos.get(), pos.data(), sizeof(int32_t) * T);
  to_device(ws.freq_row.get(), frow.data(), sizeof(int32_t) * T);
  to_device(ws.inv_freq.get(), invf.data(), sizeof(float) * invf.size());
  ws.rope_cs.grow(size_t(T) * half);
  rope_table(ws.rope_cs.get(), ws.pos.get(), ws.inv_freq.get(), ws.freq_row.get(), T, half, st);

  ws.x.grow(size_t(T) * D);
  ws.xn.grow(size_t(B) * D);
  ws.q.grow(size_t(B) * H * hd);
  ws.k.grow(size_t(B) * KV * hd);
  ws.v.grow(size_t(B) * KV * hd);
  ws.att.grow(size_t(B) * H * hd);
  ws.gate.grow(size_t(B) * F);
  ws.up.grow(size_t(B) * F);
  embedding_f32(ws.x.get(), m.embed, ws.tokens.get(), T, D, st);

  // Room for the new rows, and each item's lengths before this call (per layer and head).
  std::vector<std::vector<int>> base(n_items);
  for (int s = 0; s < n_items; ++s) {
    const int sq = items[s].seq;
    int longest = 0;
    for (int l = 0; l < c.n_layers; ++l)
      for (int h = 0; h < KV; ++h) longest = std::max(longest, cache.length(sq, l, h));
    cache.reserve(sq, longest + items[s].n, st);
    base[s] = cache.seq(sq).len;
  }

  const int tail = opt.hook ? std::max(1, opt.hook->tail_rows()) : 1;
  const std::vector<MicroBatch> mbs = plan(items, B, tail);
  std::vector<AttnItem> att_items;
  std::vector<int> att_lens;
  AttnParams ap;
  ap.n_heads = H;
  ap.n_kv_heads = KV;
  ap.head_dim = hd;
  ap.scale = 1.0f / std::sqrt(float(hd));
  ap.sliding_window = c.sliding_window;

  for (int l = 0; l < c.n_layers; ++l) {
    const DeviceLayer& w = m.layers[l];
    for (const MicroBatch& mb : mbs) {
      const int nb = mb.t1 - mb.t0;
      float* x = ws.x.get() + size_t(mb.t0) * D;
      rmsnorm_f32(ws.xn.get(), x, w.attn_norm, nb, D, c.eps, st);
      matmul_bf16w(ws.q.get(), ws.xn.get(), w.wq, w.bq, nb, H * hd, D, st);
      matmul_bf16w(ws.k.get(), ws.xn.get(), w.wk, w.bk, nb, KV * hd, D, st);
      matmul_bf16w(ws.v.get(), ws.xn.get(), w.wv, w.bv, nb, KV * hd, D, st);
      rope_apply(ws.q.get(), ws.rope_cs.get() + size_t(mb.t0) * half, nb, H, hd, st);
      rope_apply(ws.k.get(), ws.rope_cs.get() + size_t(mb.t0) * half, nb, KV, hd, st);
      att_items.clear();
      att_lens.clear();
      for (const Part& p : mb.parts) {
        const int sq = items[p.item].seq, r = p.t0 - mb.t0, n = p.i1 - p.i0;
        KvRows rows;
        for (int h = 0; h < KV; ++h) rows.row0[h] = base[p.item][size_t(l) * KV + h] + p.i0;
        kv_append_f32(cache.k(sq, l), cache.v(sq, l), cache.head_stride(sq), rows, ws.k.get() + size_t(r) * KV * hd,
                      ws.v.get() + size_t(r) * KV * hd, n, KV, hd, st);
        for (int h = 0; h < KV; ++h) cache.seq(sq).len[size_t(l) * KV + h] = rows.row0[h] + n;
        const float* qp = ws.q.get() + size_t(r) * H * hd;
        if (p.last && opt.hook) {
          opt.hook->before_attention(l, p.item, qp, n, cache, sq, st);
          // An eviction may have moved the new rows; the hook keeps them last, so only the
          // lengths are re-read below.
        }
        AttnItem ai;
        ai.q_row0 = r;
        ai.n_q = n;
        ai.k = cache.k(sq, l);
        ai.v = cache.v(sq, l);
        ai.head_stride = cache.head_stride(sq);
        ai.len_off = int(att_lens.size());
        for (int h = 0; h < KV; ++h) att_lens.push_back(cache.length(sq, l, h));
        att_items.push_back(ai);
      }
      ap.q = ws.q.get();
      ap.out = ws.att.get();
      attention_batch(ap, att_items.data(), int(att_items.size()), att_lens.data(), ws.attn, st);
      if (opt.hook)
        for (const Part& p : mb.parts)
          if (p.last)
            opt.hook->after_attention(l, p.item, ws.q.get() + size_t(p.t0 - mb.t0) * H * hd, p.i1 - p.i0, cache,
                                      items[p.item].seq, st);
      matmul_bf16w(ws.xn.get(), ws.att.get(), w.wo, w.bo, nb, D, H * hd, st);
      add_f32(x, ws.xn.get(), size_t(nb) * D, st);
      rmsnorm_f32(ws.xn.get(), x, w.ffn_norm, nb, D, c.eps, st);
      matmul_bf16w(ws.gate.get(), ws.xn.get(), w.w_gate, w.b_gate, nb, F, D, st);
      matmul_bf16w(ws.up.get(), ws.xn.get(), w.w_up, w.b_up, nb, F, D, st);
      silu_mul_f32(ws.gate.get(), ws.up.get(), size_t(nb) * F, st);
      matmul_bf16w(ws.xn.get(), ws.gate.get(), w.w_down, w.b_down, nb, D, F, st);
      add_f32(x, ws.xn.get(), size_t(nb) * D, st);
    }
  }
  for (const auto& it : items) cache.seq(it.seq).appended += it.n;

  // Rows whose logits are wanted: gathered (the embedding kernel is a row gather), normed, and sent
  // through the output head 64 at a time.
  const int RB = 64;
  auto head_rows = [&](const std::vector<int32_t>& rows, auto&& consume) {
    for (size_t r0 = 0; r0 < rows.size(); r0 += RB) {
      const int nb = int(std::min<size_t>(RB, rows.size() - r0));
      ws.row_idx.grow(RB);
      to_device(ws.row_idx.get(), rows.data() + r0, sizeof(int32_t) * nb);
      ws.rows.grow(size_t(RB) * D);
      embedding_f32(ws.rows.get(), ws.x.get(), ws.row_idx.get(), nb, D, st);
      rmsnorm_f32(ws.rows.get(), ws.rows.get(), m.norm, nb, D, c.eps, st);
      ws.logits.grow(size_t(RB) * V);
      matmul_bf16w(ws.logits.get(), ws.rows.get(), m.lm_head, nullptr, nb, V, D, st);
      consume(r0, nb);
    }
  };

  {
    std::vector<int32_t> rows, tg;
    std::vector<float*> dst;
    int off = 0;
    for (const auto& it : items) {
      if (it.targets && it.target_logprob)
        for (int i = 0; i < it.n; ++i)
          if (it.targets[i] >= 0) {
            rows.push_back(off + i);
            tg.push_back(it.targets[i]);
            dst.push_back(&it.target_logprob[i]);
          }
      off += it.n;
    }
    if (!rows.empty()) {
      ws.targets.grow(RB);
      ws.logprob.grow(RB);
      std::vector<float> lp(RB);
      head_rows(rows, [&](size_t r0, int nb) {
        to_device(ws.targets.get(), tg.data() + r0, sizeof(int32_t) * nb);
        log_softmax_pick_f32(ws.logits.get(), ws.targets.get(), ws.logprob.get(), nullptr, nb, V, st);
        to_host(lp.data(), ws.logprob.get(), sizeof(float) * nb);
        for (int b = 0; b < nb; ++b) *dst[r0 + b] = lp[b];
      });
    }
  }

  if (opt.logits == LogitsMode::None) return;
  std::vector<int32_t> rows;
  if (opt.logits == LogitsMode::All) {
    for (int t = 0; t < T; ++t) rows.push_back(t);
  } else {
    int off = 0;
    for (const auto& it : items) { off += it.n; rows.push_back(off - 1); }
  }
  if (opt.logits_out) opt.logits_out->resize(rows.size() * size_t(V));
  if (opt.argmax_out) opt.argmax_out->resize(rows.size());
  ws.argmax.grow(RB);
  head_rows(rows, [&](size_t r0, int nb) {
    if (opt.logits_out) to_host(opt.logits_out->data() + r0 * V, ws.logits.get(), sizeof(float) * size_t(nb) * V);
    if (opt.argmax_out) {
      log_softmax_pick_f32(ws.logits.get(), nullptr, nullptr, ws.argmax.get(), nb, V, st);
      to_host(opt.argmax_out->data() + r0, ws.argmax.get(), sizeof(int32_t) * nb);
    }
  });
}

}  // namespace cuda
}  // namespace pcomp
