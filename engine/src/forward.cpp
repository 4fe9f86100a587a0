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
  r.beta_fast = c.beta_fast;
  r.beta_slow = c.beta_slow;
  r.yarn_truncate = c.yarn_truncate;
  r.attn_factor = c.attn_factor;
  r.short_factor = &c.short_factor;
  r.long_factor = &c.long_factor;
  r.rot_dim = c.rot_dim;
  return r;
}

void rope_inv_freq(const RopeParams& r, int head_dim, int max_pos_in_call, float* out) {
  // Frequencies over the rotated dimensions (HF's dim = head_dim * partial_rotary_factor); the pairs
  // past them (partial rotary, permuted there at load) do not turn.
  const int d = r.rot_dim > 0 ? r.rot_dim : head_dim;
  for (int i = d / 2; i < head_dim / 2; ++i) out[i] = 0.f;
  const int half = d / 2;
  double base = r.theta;
  if (r.ntk_static) base = r.theta * std::pow(r.factor, double(d) / double(d - 2));
  if (r.type == RopeType::Dynamic) {
    // HF _compute_dynamic_ntk_parameters: seq_len = max position + 1 of the call, never below
    // max_position_embeddings.
    double seq_len = std::max<double>(max_pos_in_call + 1, r.max_pos);
    base = r.theta * std::pow(r.factor * seq_len / r.max_pos - (r.factor - 1.0), double(d) / double(d - 2));
  }
  // yarn (transformers' _compute_yarn_parameters): dimension pairs below the correction range keep
  // their frequency (extrapolation), those above are divided by factor (interpolation), a linear ramp
  // in between. The range: the dimension where a wavelength fits beta_fast (low) and beta_slow (high)
  // times into original_max_position_embeddings, floored / ceiled when truncate, clamped to [0, d-1].
  double y_low = 0, y_high = 0;
  if (r.type == RopeType::Yarn) {
    const double two_pi = 6.283185307179586;
    auto corr_dim = [&](double rot) { return double(d) * std::log(r.orig_max_pos / (rot * two_pi)) / (2 * std::log(base)); };
    y_low = corr_dim(r.beta_fast);
    y_high = corr_dim(r.beta_slow);
    if (r.yarn_truncate) y_low = std::floor(y_low), y_high = std::ceil(y_high);
    y_low = std::max(y_low, 0.0);
    y_high = std::min(y_high, double(d - 1));
    if (y_low == y_high) y_high += 0.001;
  }
  for (int i = 0; i < half; ++i) {
    double f = 1.0 / std::pow(base, double(2 * i) / double(d));
    if (r.type == RopeType::Yarn) {
      const double ramp = std::min(1.0, std::max(0.0, (i - y_low) / (y_high - y_low)));
      const double extrap = 1.0 - ramp;
      f = (f / r.factor) * (1.0 - extrap) + f * extrap;
    }
    if (r.type == RopeType::Linear) f /= r.factor;
    if (r.type == RopeType::LongRope) {
      // transformers' longrope: long factors once max(position_ids) + 1 of the call passes the
      // original window (longrope_frequency_update), short ones otherwise.
      const std::vector<double>& ext = max_pos_in_call + 1 > r.orig_max_pos ? *r.long_factor : *r.short_factor;
      f = 1.0 / (ext[i] * std::pow(base, double(2 * i) / double(d)));
    }
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

ModelWeights::ModelWeights(const Model& m, const Backend& b) : model(m), be(b) {
  const ModelConfig& c = m.cfg;
  const size_t D = size_t(c.dim), F = size_t(c.hidden), Q = size_t(c.n_heads) * c.head_dim,
               KVd = size_t(c.n_kv_heads) * c.head_dim;
  auto vec = [&](const float* p, size_t n) { return p ? be.wrap(p, n * sizeof(float)) : nullptr; };
  layers.resize(m.layers.size());
  for (size_t l = 0; l < m.layers.size(); ++l) {
    const LayerWeights& w = m.layers[l];
    DeviceLayer& d = layers[l];
    d.attn_norm = vec(w.attn_norm, D);
    d.ffn_norm = vec(w.ffn_norm, D);
    d.q_norm = vec(w.q_norm, size_t(c.head_dim));
    d.k_norm = vec(w.k_norm, size_t(c.head_dim));
    d.wq = be.weight(w.wq, Q * D);
    d.wk = be.weight(w.wk, KVd * D);
    d.wv = be.weight(w.wv, KVd * D);
    d.wo = be.weight(w.wo, D * Q);
    d.w_gate = be.weight(w.w_gate, F * D);
    d.w_up = be.weight(w.w_up, F * D);
    d.w_down = be.weight(w.w_down, D * F);
    d.bq = vec(w.bq, Q);
    d.bk = vec(w.bk, KVd);
    d.bv = vec(w.bv, KVd);
    d.bo = vec(w.bo, D);
    d.b_gate = vec(w.b_gate, F);
    d.b_up = vec(w.b_up, F);
    d.b_down = vec(w.b_down, D);
  }
  // The embedding table stays f32 on every device (token lookups agree bit for bit).
  embed.buf = be.wrap(m.embed, size_t(c.vocab) * D * sizeof(float));
  embed.type = WeightType::F32;
  lm_head = be.weight(m.lm_head, size_t(c.vocab) * D);
  norm = vec(m.norm, D);
}

ModelWeights::~ModelWeights() {
  for (DeviceLayer& d : layers) {
    for (Buffer* b : {d.attn_norm, d.ffn_norm, d.q_norm, d.k_norm, d.bq, d.bk, d.bv, d.bo, d.b_gate, d.b_up, d.b_down}) be.free(b);
    for (DeviceWeight* w : {&d.wq, &d.wk, &d.wv, &d.wo, &d.w_gate, &d.w_up, &d.w_down}) be.free(w->buf);
  }
  be.free(embed.buf);
  be.free(lm_head.buf);
  be.free(norm);
}

namespace {
template <class T>
void grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}
void check_cancel(const ForwardOptions& o) {
  if (o.cancel && o.cancel->load(std::memory_order_relaxed)) throw Cancelled();
}
}  // namespace

void forward(const ModelWeights& mw, KVCache& cache, const std::vector<SeqInput>& items, const ForwardOptions& opt,
             Workspace& ws) {
  const Model& m = mw.model;
  const Backend& be = mw.be;
  const ModelConfig& c = m.cfg;
  const int D = c.dim, hd = c.head_dim, H = c.n_heads, KV = c.n_kv_heads, F = c.hidden, V = c.vocab;
  const int half = hd / 2;
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
  const size_t f4 = sizeof(float);
  ws.x.grow(be, size_t(T) * D * f4);
  ws.xn.grow(be, size_t(T) * D * f4);
  ws.q.grow(be, size_t(T) * H * hd * f4);
  ws.k.grow(be, size_t(T) * KV * hd * f4);
  ws.v.grow(be, size_t(T) * KV * hd * f4);
  ws.att.grow(be, size_t(std::max<size_t>(T, items.size())) * std::max(H * hd, D) * f4);
  ws.gate.grow(be, size_t(T) * F * f4);
  ws.up.grow(be, size_t(T) * F * f4);
  ws.pos.grow(be, size_t(T) * sizeof(int32_t));
  ws.tokens.grow(be, size_t(T) * sizeof(int32_t));
  ws.inv_freq.grow(be, items.size() * half * f4);
  grow(ws.pos_h, size_t(T));
  grow(ws.tokens_h, size_t(T));
  grow(ws.inv_freq_h, items.size() * half);

  const RopeParams rope = opt.rope ? *opt.rope : RopeParams::from_config(c);
  {
    int off = 0;
    for (size_t s = 0; s < items.size(); ++s) {
      const SeqInput& it = items[s];
      int maxp = 0;
      for (int i = 0; i < it.n; ++i) {
        const int p = it.positions ? it.positions[i] : i;
        ws.pos_h[off + i] = p;
        ws.tokens_h[off + i] = it.tokens[i];
        maxp = std::max(maxp, p);
      }
      rope_inv_freq(rope, hd, maxp, &ws.inv_freq_h[s * half]);
      off += it.n;
    }
    be.upload(ws.pos.get(), 0, ws.pos_h.data(), size_t(T) * sizeof(int32_t));
    be.upload(ws.tokens.get(), 0, ws.tokens_h.data(), size_t(T) * sizeof(int32_t));
    be.upload(ws.inv_freq.get(), 0, ws.inv_freq_h.data(), items.size() * half * f4);
  }
  be.embedding(ws.x.view(), mw.embed, ws.tokens.view(), T, D);
  for (const auto& it : items) cache.reserve(it.seq, cache.length(it.seq, 0, 0) + it.n);

  const int CKV = cache.n_kv();  // cache sets per layer: KV, or H when expanded
  if (CKV != KV && CKV != H) throw EngineError("forward: the cache has neither the KV nor the query head count");
  const size_t n_items = items.size();
  grow(ws.kp, n_items * CKV);
  grow(ws.vp, n_items * CKV);
  grow(ws.lens, n_items * CKV);
  grow(ws.items, n_items);
  ws.batch.reserve(n_items);
  bool decode = true;
  for (const auto& it : items) decode = decode && it.n == 1;
  AttentionArgs args;
  args.n_heads = H;
  args.n_kv_heads = CKV;
  args.head_dim = hd;
  args.scale = 1.0f / std::sqrt(float(hd));
  args.sliding_window = c.sliding_window;
  for (int l = 0; l < c.n_layers; ++l) {
    check_cancel(opt);
    const DeviceLayer& w = mw.layers[l];
    be.rmsnorm(ws.xn.view(), ws.x.view(), w.attn_norm, T, D, c.eps);
    be.matmul(ws.q.view(), ws.xn.view(), w.wq, w.bq, T, H * hd, D);
    be.matmul(ws.k.view(), ws.xn.view(), w.wk, w.bk, T, KV * hd, D);
    be.matmul(ws.v.view(), ws.xn.view(), w.wv, w.bv, T, KV * hd, D);
    if (c.qk_norm) {  // Qwen3: RMSNorm over each head's head_dim values, before RoPE
      be.rmsnorm(ws.q.view(), ws.q.view(), w.q_norm, T * H, hd, c.eps);
      be.rmsnorm(ws.k.view(), ws.k.view(), w.k_norm, T * KV, hd, c.eps);
    }
    int off = 0;
    for (size_t s = 0; s < n_items; ++s) {
      const SeqInput& it = items[s];
      const View invf = ws.inv_freq.view(s * half), pos = ws.pos.view(off);
      const View q = ws.q.view(size_t(off) * H * hd);
      be.rope(q, pos, invf, it.n, H, hd);
      be.rope(ws.k.view(size_t(off) * KV * hd), pos, invf, it.n, KV, hd);
      if (rope.attn_factor != 1.0) {  // yarn: cos and sin times attention_factor, i.e. q and k scaled
        be.scale(q, float(rope.attn_factor), size_t(it.n) * H * hd);
        be.scale(ws.k.view(size_t(off) * KV * hd), float(rope.attn_factor), size_t(it.n) * KV * hd);
      }
      // A query-head-expanded cache gives every query head its own copy of its group's K/V row.
      cache.append(it.seq, l, ws.k.view(size_t(off) * KV * hd), ws.v.view(size_t(off) * KV * hd), KV, &ws.pos_h[off], it.n);
      if (opt.hook) opt.hook->before_attention(l, int(s), q, it.n, cache, it.seq);
      off += it.n;
    }
    off = 0;
    ws.batch.clear();
    for (size_t s = 0; s < n_items; ++s) {
      const SeqInput& it = items[s];
      for (int h = 0; h < CKV; ++h) {
        const KVHead& kh = cache.head(it.seq, l, h);
        ws.kp[s * CKV + h] = kh.k;
        ws.vp[s * CKV + h] = kh.v;
        ws.lens[s * CKV + h] = kh.len;
      }
      AttentionItem& ai = ws.items[s];
      ai.n_q = it.n;
      ai.q = ws.q.view(size_t(off) * H * hd);
      ai.out = ws.att.view(size_t(off) * H * hd);
      ai.k = &ws.kp[s * CKV];
      ai.v = &ws.vp[s * CKV];
      ai.kv_len = &ws.lens[s * CKV];
      AttentionArgs one = args;
      one.items = &ai;
      one.n_items = 1;
      if (!opt.hook || !opt.hook->attention(l, int(s), one, cache, it.seq)) ws.batch.push_back(ai);
      off += it.n;
    }
    if (!ws.batch.empty()) {
      args.items = ws.batch.data();
      args.n_items = int(ws.batch.size());
      if (decode) be.decode_attention(args);
      else be.attention(args);
    }
    be.matmul(ws.xn.view(), ws.att.view(), w.wo, w.bo, T, D, H * hd);
    be.add(ws.x.view(), ws.xn.view(), size_t(T) * D);
    be.rmsnorm(ws.xn.view(), ws.x.view(), w.ffn_norm, T, D, c.eps);
    be.matmul(ws.gate.view(), ws.xn.view(), w.w_gate, w.b_gate, T, F, D);
    be.matmul(ws.up.view(), ws.xn.view(), w.w_up, w.b_up, T, F, D);
    be.silu_mul(ws.gate.view(), ws.up.view(), size_t(T) * F);
    be.matmul(ws.xn.view(), ws.gate.view(), w.w_down, w.b_down, T, D, F);
    be.add(ws.x.view(), ws.xn.view(), size_t(T) * D);
  }
  for (const auto& it : items) cache.finish_append(it.seq, it.n);
  check_cancel(opt);
  be.rmsnorm(ws.xn.view(), ws.x.view(), mw.norm, T, D, c.eps);

  // Target log-probabilities, a block of rows at a time: full-vocabulary logits are never held
  // for every position at once. Only the log-probs cross to the host.
  const int RB = 64;
  const size_t row = size_t(D) * f4;
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
          ws.logits.grow(be, size_t(nb) * V * f4);
          ws.lp_x.grow(be, size_t(nb) * row);
          ws.lp_targets.grow(be, size_t(nb) * sizeof(int32_t));
          ws.lp_out.grow(be, size_t(nb) * f4);
          grow(ws.lp_targets_h, size_t(nb));
          grow(ws.lp_h, size_t(nb));
          for (int b = 0; b < nb; ++b) {
            const int i = rows[r0 + b];
            be.copy(ws.lp_x.get(), size_t(b) * row, ws.xn.get(), size_t(off + i) * row, row);
            ws.lp_targets_h[b] = it.targets[i];
          }
          be.upload(ws.lp_targets.get(), 0, ws.lp_targets_h.data(), size_t(nb) * sizeof(int32_t));
          be.matmul(ws.logits.view(), ws.lp_x.view(), mw.lm_head, View(), nb, V, D);
          be.log_softmax_pick(ws.logits.view(), ws.lp_targets.view(), ws.lp_out.view(), View(), nb, V);
          be.download(ws.lp_h.data(), ws.lp_out.get(), 0, size_t(nb) * f4);
          for (int b = 0; b < nb; ++b) it.target_logprob[rows[r0 + b]] = ws.lp_h[b];
        }
      }
      off += it.n;
    }
  }

  if (opt.logits == LogitsMode::None || !opt.logits_out) return;
  if (opt.logits == LogitsMode::All) {
    ws.logits.grow(be, size_t(T) * V * f4);
    be.matmul(ws.logits.view(), ws.xn.view(), mw.lm_head, View(), T, V, D);
    opt.logits_out->resize(size_t(T) * V);
    be.download(opt.logits_out->data(), ws.logits.get(), 0, size_t(T) * V * f4);
    return;
  }
  // Last: gather the final row of each item (into att, free now), then one product.
  const int n = int(n_items);
  int off = 0;
  for (int s = 0; s < n; ++s) {
    off += items[s].n;
    be.copy(ws.att.get(), size_t(s) * row, ws.xn.get(), size_t(off - 1) * row, row);
  }
  ws.logits.grow(be, size_t(n) * V * f4);
  be.matmul(ws.logits.view(), ws.att.view(), mw.lm_head, View(), n, V, D);
  opt.logits_out->resize(size_t(n) * V);
  be.download(opt.logits_out->data(), ws.logits.get(), 0, size_t(n) * V * f4);
}

}  // namespace pcomp
