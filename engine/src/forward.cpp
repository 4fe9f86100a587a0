#include "forward.h"

#include <algorithm>
#include <cmath>

#include "error.h"

namespace pcomp {

RopeParams RopeParams::from_config(const ModelConfig& c) {
  RopeParams r;
  r.type = c.rope_type;
  r.theta = c.rope_theta;
  r.factor = c.rope_factor;
  r.low_freq_factor = c.low_freq_factor;
  r.high_freq_factor = c.high_freq_factor;
  r.orig_max_pos = c.orig_max_pos;
  r.max_pos = c.max_pos;
  return r;
}

void rope_inv_freq(const RopeParams& r, int d, int max_pos_in_call, float* out) {
  const int half = d / 2;
  double base = r.theta;
  if (r.ntk_static) base = r.theta * std::pow(r.factor, double(d) / double(d - 2));
  if (r.type == RopeType::Dynamic) {
    // HF _compute_dynamic_ntk_parameters: seq_len = max position + 1 of the call, never below
    // max_position_embeddings.
    double seq_len = std::max<double>(max_pos_in_call + 1, r.max_pos);
    base = r.theta * std::pow(r.factor * seq_len / r.max_pos - (r.factor - 1.0), double(d) / double(d - 2));
  }
  for (int i = 0; i < half; ++i) {
    double f = 1.0 / std::pow(base, double(2 * i) / double(d));
    if (r.type == RopeType::Linear) f /= r.factor;
    if (r.type == RopeType::Llama3) {
      const double two_pi = 6.283185307179586;
      const double low_wl = r.orig_max_pos / r.low_freq_factor, high_wl = r.orig_max_pos / r.high_freq_factor;
      const double wl = two_pi / f;
      if (wl > low_wl) f = f / r.factor;
      else if (wl >= high_wl) {
        const double smooth = (r.orig_max_pos / wl - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
        f = (1 - smooth) * f / r.factor + smooth * f;
      }
    }
    out[i] = float(f);
  }
}

namespace {
template <class T>
void grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}
void expand_kv(const float* x, int n, int kv, int sets, int hd, std::vector<float>& out) {
  out.resize(size_t(n) * sets * hd);
  const int group = sets / kv;
  for (int t = 0; t < n; ++t)
    for (int h = 0; h < sets; ++h)
      std::copy(x + (size_t(t) * kv + h / group) * hd, x + (size_t(t) * kv + h / group + 1) * hd, &out[(size_t(t) * sets + h) * hd]);
}
void check_cancel(const ForwardOptions& o) {
  if (o.cancel && o.cancel->load(std::memory_order_relaxed)) throw Cancelled();
}
}  // namespace

void forward(const Model& m, const Backend& be, KVCache& cache, const std::vector<SeqInput>& items,
             const ForwardOptions& opt, Workspace& ws) {
  const ModelConfig& c = m.cfg;
  const int D = c.dim, hd = c.head_dim, H = c.n_heads, KV = c.n_kv_heads, F = c.hidden, V = c.vocab;
  int T = 0;
  for (const auto& it : items) {
    if (!cache.live(it.seq)) throw EngineError("forward: sequence " + std::to_string(it.seq) + " does not exist");
    if (it.n <= 0) throw EngineError("forward: every sequence needs at least one new token");
    for (int i = 0; i < it.n; ++i)
      if (it.tokens[i] < 0 || it.tokens[i] >= V)
        throw EngineError("token id " + std::to_string(it.tokens[i]) + " is outside the vocabulary (size " +
                          std::to_string(V) + ")");
    T += it.n;
  }
  if (T == 0) return;
  grow(ws.x, size_t(T) * D);
  grow(ws.xn, size_t(T) * D);
  grow(ws.q, size_t(T) * H * hd);
  grow(ws.k, size_t(T) * KV * hd);
  grow(ws.v, size_t(T) * KV * hd);
  grow(ws.att, size_t(T) * H * hd);
  grow(ws.gate, size_t(T) * F);
  grow(ws.up, size_t(T) * F);
  grow(ws.pos, size_t(T));
  grow(ws.inv_freq, size_t(items.size()) * (hd / 2));

  const RopeParams rope = opt.rope ? *opt.rope : RopeParams::from_config(c);
  {
    int off = 0;
    for (size_t s = 0; s < items.size(); ++s) {
      const SeqInput& it = items[s];
      int maxp = 0;
      for (int i = 0; i < it.n; ++i) {
        const int p = it.positions ? it.positions[i] : i;
        ws.pos[off + i] = p;
        maxp = std::max(maxp, p);
        std::copy(m.embed + size_t(it.tokens[i]) * D, m.embed + size_t(it.tokens[i] + 1) * D, &ws.x[size_t(off + i) * D]);
      }
      rope_inv_freq(rope, hd, maxp, &ws.inv_freq[s * (hd / 2)]);
      off += it.n;
    }
  }
  for (const auto& it : items) cache.reserve(it.seq, cache.length(it.seq, 0, 0) + it.n);

  const int CKV = cache.n_kv();  // cache sets per layer: KV, or H when expanded
  if (CKV != KV && CKV != H) throw EngineError("forward: the cache has neither the KV nor the query head count");
  // Reused across calls (Workspace): a decode step allocates nothing.
  std::vector<float>& ek = ws.ek;
  std::vector<float>& ev = ws.ev;
  grow(ws.kp, size_t(CKV));
  grow(ws.vp, size_t(CKV));
  grow(ws.lens, size_t(CKV));
  std::vector<const float*>& kp = ws.kp;
  std::vector<const float*>& vp = ws.vp;
  std::vector<int>& lens = ws.lens;
  for (int l = 0; l < c.n_layers; ++l) {
    check_cancel(opt);
    const LayerWeights& w = m.layers[l];
    be.rmsnorm(ws.xn.data(), ws.x.data(), w.attn_norm, T, D, c.eps);
    be.matmul(ws.q.data(), ws.xn.data(), w.wq, w.bq, T, H * hd, D);
    be.matmul(ws.k.data(), ws.xn.data(), w.wk, w.bk, T, KV * hd, D);
    be.matmul(ws.v.data(), ws.xn.data(), w.wv, w.bv, T, KV * hd, D);
    int off = 0;
    for (size_t s = 0; s < items.size(); ++s) {
      const SeqInput& it = items[s];
      const float* invf = &ws.inv_freq[s * (hd / 2)];
      be.rope(&ws.q[size_t(off) * H * hd], &ws.pos[off], invf, it.n, H, hd);
      be.rope(&ws.k[size_t(off) * KV * hd], &ws.pos[off], invf, it.n, KV, hd);
      if (CKV == KV) {
        cache.append(it.seq, l, &ws.k[size_t(off) * KV * hd], &ws.v[size_t(off) * KV * hd], &ws.pos[off], it.n);
      } else {
        // Query-head-expanded cache: every query head gets its own copy of its group's K/V row.
        expand_kv(&ws.k[size_t(off) * KV * hd], it.n, KV, CKV, hd, ek);
        expand_kv(&ws.v[size_t(off) * KV * hd], it.n, KV, CKV, hd, ev);
        cache.append(it.seq, l, ek.data(), ev.data(), &ws.pos[off], it.n);
      }
      if (opt.hook) opt.hook->before_attention(l, int(s), &ws.q[size_t(off) * H * hd], it.n, cache, it.seq);
      for (int h = 0; h < CKV; ++h) {
        KVHead& kh = cache.head(it.seq, l, h);
        kp[h] = kh.k.data();
        vp[h] = kh.v.data();
        lens[h] = kh.len;
      }
      AttentionArgs a;
      a.n_q = it.n;
      a.n_heads = H;
      a.n_kv_heads = CKV;
      a.head_dim = hd;
      a.q = &ws.q[size_t(off) * H * hd];
      a.out = &ws.att[size_t(off) * H * hd];
      a.k = kp.data();
      a.v = vp.data();
      a.kv_len = lens.data();
      a.scale = 1.0f / std::sqrt(float(hd));
      a.sliding_window = c.sliding_window;
      if (!opt.hook || !opt.hook->attention(l, int(s), a, cache, it.seq)) be.attention(a);
      off += it.n;
    }
    be.matmul(ws.xn.data(), ws.att.data(), w.wo, w.bo, T, D, H * hd);
    be.add(ws.x.data(), ws.xn.data(), size_t(T) * D);
    be.rmsnorm(ws.xn.data(), ws.x.data(), w.ffn_norm, T, D, c.eps);
    be.matmul(ws.gate.data(), ws.xn.data(), w.w_gate, w.b_gate, T, F, D);
    be.matmul(ws.up.data(), ws.xn.data(), w.w_up, w.b_up, T, F, D);
    be.silu_mul(ws.gate.data(), ws.up.data(), size_t(T) * F);
    be.matmul(ws.xn.data(), ws.gate.data(), w.w_down, w.b_down, T, D, F);
    be.add(ws.x.data(), ws.xn.data(), size_t(T) * D);
  }
  for (const auto& it : items) cache.finish_append(it.seq, it.n);
  check_cancel(opt);
  be.rmsnorm(ws.xn.data(), ws.x.data(), m.norm, T, D, c.eps);

  // Target log-probabilities, a block of rows at a time: full-vocabulary logits are never held
  // for every position at once.
  const int RB = 64;
  {
    int off = 0;
    for (const auto& it : items) {
      if (it.targets && it.target_logprob) {
        std::vector<int32_t>& rows = ws.lp_rows;
        rows.clear();
        for (int i = 0; i < it.n; ++i)
          if (it.targets[i] >= 0) rows.push_back(i);
        for (size_t r0 = 0; r0 < rows.size(); r0 += RB) {
          const int nb = int(std::min<size_t>(RB, rows.size() - r0));
          grow(ws.logits, size_t(nb) * V);
          grow(ws.lp_x, size_t(nb) * D);
          grow(ws.lp_targets, size_t(nb));
          grow(ws.lp_out, size_t(nb));
          std::vector<float>& xb = ws.lp_x;
          std::vector<int32_t>& tg = ws.lp_targets;
          std::vector<float>& lp = ws.lp_out;
          for (int b = 0; b < nb; ++b) {
            const int i = rows[r0 + b];
            std::copy(&ws.xn[size_t(off + i) * D], &ws.xn[size_t(off + i + 1) * D], &xb[size_t(b) * D]);
            tg[b] = it.targets[i];
          }
          be.matmul(ws.logits.data(), xb.data(), m.lm_head, nullptr, nb, V, D);
          be.log_softmax_pick(ws.logits.data(), tg.data(), lp.data(), nullptr, nb, V);
          for (int b = 0; b < nb; ++b) it.target_logprob[rows[r0 + b]] = lp[b];
        }
      }
      off += it.n;
    }
  }

  if (opt.logits == LogitsMode::None || !opt.logits_out) return;
  if (opt.logits == LogitsMode::All) {
    opt.logits_out->resize(size_t(T) * V);
    be.matmul(opt.logits_out->data(), ws.xn.data(), m.lm_head, nullptr, T, V, D);
    return;
  }
  // Last: gather the final row of each item.
  const int n = int(items.size());
  grow(ws.att, size_t(n) * D);  // reuse as a gather buffer
  int off = 0;
  for (int s = 0; s < n; ++s) {
    off += items[s].n;
    std::copy(&ws.xn[size_t(off - 1) * D], &ws.xn[size_t(off) * D], &ws.att[size_t(s) * D]);
  }
  opt.logits_out->resize(size_t(n) * V);
  be.matmul(opt.logits_out->data(), ws.att.data(), m.lm_head, nullptr, n, V, D);
}

}  // namespace pcomp
