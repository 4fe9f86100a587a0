// See pipeline_cuda.cuh.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "kv_compact.cuh"
#include "kv_score.cuh"
#include "pipeline_cuda.cuh"
#include "topk.cuh"

namespace pcomp {
namespace cuda {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Per-chunk KV eviction, run after each layer's attention of a chunk (the chunk's own attention
// used the full cache, as in the reference code; only what is cached for later is compressed).
struct ChunkEvictHook : CudaLayerHook {
  const DeviceModel& m;
  const PipelineConfig& cfg;
  std::vector<int> context_len;  // per item
  int question_len = 0;
  KvScoreWorkspace score_ws;
  TopkWorkspace topk_ws;
  DevBuf<float> raw, pooled;
  DevBuf<int32_t> keep;
  ChunkEvictHook(const DeviceModel& model, const PipelineConfig& c) : m(model), cfg(c) {}
  int tail_rows() const override { return cfg.kv_window; }
  void after_attention(int layer, int item, const float* q, int n_q, DeviceKVCache& cache, int seq,
                       cudaStream_t st) override {
    const ModelConfig& c = m.cfg;
    const int KV = c.n_kv_heads, H = c.n_heads, hd = c.head_dim;
    const int C = context_len[item], L = C + question_len;
    const int cs = cfg.kv_keep_prefix, n = C - cs;  // candidates: the context after BOS
    const int cap = std::min(n, cfg.kv_capacity > 0 ? cfg.kv_capacity : C / 2);
    if (n <= 0 || cap >= n) return;
    const int w = std::min(cfg.kv_window, n_q);
    std::vector<int> lens(KV, L);
    raw.grow(size_t(KV) * n);
    pooled.grow(size_t(KV) * n);
    kv_score(q + size_t(n_q - w) * H * hd, w, cache.k(seq, layer), cache.head_stride(seq), lens.data(), H, KV, hd,
             1.0f / std::sqrt(float(hd)), cs, C, 1.f, raw.get(), score_ws, st);
    const float* s = raw.get();
    if (cfg.kv_kernel > 1) {
      kv_score_pool(raw.get(), pooled.get(), KV, n, cfg.kv_kernel, cfg.kv_max_pool, st);
      s = pooled.get();
    }
    const int kept = cs + cap + question_len;
    keep.grow(size_t(KV) * kept);
    std::vector<int> ks(KV, cap);
    topk_indices(s, KV, n, n, ks.data(), true, keep.get() + cs, kept, cs, topk_ws, st);
    kv_keep_edges(keep.get(), kept, KV, cs, cap, C, question_len, st);
    cache.gather_layer(seq, layer, keep.get(), kept, std::vector<int>(KV, kept), st);
  }
};

// Calibration during the question's re-encoding: before attention in the chosen layers, score
// every cached key with the last question rows (group-mean), drop the outliers of the rule's
// region within the cached context, equalise across heads.
struct CalibHook : CudaLayerHook {
  const DeviceModel& m;
  const PipelineConfig& cfg;
  KvScoreWorkspace score_ws;
  CalibWorkspace calib_ws;
  DevBuf<float> scores;
  DevBuf<int32_t> keep;
  CalibHook(const DeviceModel& model, const PipelineConfig& c) : m(model), cfg(c) {}
  int tail_rows() const override { return cfg.calib_query_rows; }
  void before_attention(int layer, int item, const float* q, int n_q, DeviceKVCache& cache, int seq,
                        cudaStream_t st) override {
    (void)item;
    if (cfg.calib_rules.empty()) {
      const int last = cfg.calib_last < 0 ? m.cfg.n_layers - 1 : cfg.calib_last;
      if (layer >= cfg.calib_first && layer <= last) calibrate(cfg.calib_rule, q, n_q, cache, seq, layer, st);
      return;
    }
    // Several rules on one layer apply in list order, each on the cache the previous one left.
    for (const CalibLayers& r : cfg.calib_rules)
      if (layer >= r.first && layer <= r.last) calibrate(r.rule, q, n_q, cache, seq, layer, st);
  }
  void calibrate(const CalibRule& rule, const float* q, int n_q, DeviceKVCache& cache, int seq, int layer,
                 cudaStream_t st) {
    const ModelConfig& c = m.cfg;
    const int KV = c.n_kv_heads, H = c.n_heads, hd = c.head_dim, group = H / KV;
    std::vector<int> lens(KV);
    int L = 0;
    for (int h = 0; h < KV; ++h) L = std::max(L, lens[h] = cache.length(seq, layer, h));
    for (int h = 0; h < KV; ++h)
      if (lens[h] != L) throw std::runtime_error("calibration: KV heads of unequal length");
    const int w = std::min(cfg.calib_query_rows > 0 ? cfg.calib_query_rows : n_q, n_q);
    scores.grow(size_t(KV) * L);
    kv_score(q + size_t(n_q - w) * H * hd, w, cache.k(seq, layer), cache.head_stride(seq), lens.data(), H, KV, hd,
             1.0f / std::sqrt(float(hd)), 0, L, 1.f / float(w * group), scores.get(), score_ws, st);
    keep.grow(size_t(KV) * L);
    std::vector<int> kept(KV);
    calib_select(scores.get(), KV, L, L, 0, L - n_q, rule, keep.get(), L, kept.data(), nullptr, calib_ws, st);
    cache.gather_layer(seq, layer, keep.get(), L, kept, st);
  }
};

void sync() { PCOMP_CUDA_CHECK(cudaDeviceSynchronize()); }

bool is_stop(const PipelineConfig& cfg, int32_t token) {
  return std::find(cfg.stop_ids.begin(), cfg.stop_ids.end(), token) != cfg.stop_ids.end();
}

// Greedy decoding from the first token until a stop id (not emitted) or max_new_tokens; fills
// result.tokens and the decode timing.
void decode(const DeviceModel& m, DeviceKVCache& cache, int seq, int first_pos, int32_t first, const PipelineConfig& cfg,
            CudaWorkspace& ws, PipelineResult& r) {
  std::vector<int32_t> arg;
  CudaForwardOptions opt;
  opt.logits = LogitsMode::Last;
  opt.argmax_out = &arg;
  int32_t pos = first_pos, next = first;
  sync();
  const double t0 = now_s();
  for (int t = 0; t < cfg.max_new_tokens && !is_stop(cfg, next); ++t) {
    r.tokens.push_back(next);
    if (t + 1 == cfg.max_new_tokens) break;
    CudaSeqInput in;
    in.seq = seq;
    in.tokens = &r.tokens.back();
    in.positions = &pos;
    in.n = 1;
    forward_cuda(m, cache, {in}, opt, ws);
    next = arg[0];
    ++pos;
    ++r.decode_steps;
  }
  sync();
  r.decode_s = now_s() - t0;
}

double nll_of(const std::vector<float>& logits, int32_t target) {
  double mx = -INFINITY, tot = 0;
  for (float x : logits) mx = std::max(mx, double(x));
  for (float x : logits) tot += std::exp(double(x) - mx);
  return -(double(logits[target]) - mx - std::log(tot));
}

// Perplexity input, as the CPU's eval_and_decode: sample.eval_tokens scored after the prompt (the
// first from the prompt's last logits), then dropped again so decoding continues from the prompt.
// Dropping is a length change: the rows past each head's length are never read.
void score_eval_tokens(const DeviceModel& m, DeviceKVCache& cache, int seq, int next_pos, const PipelineSample& sample,
                       const PipelineConfig& cfg, CudaWorkspace& ws, PipelineResult& r) {
  const int n = int(sample.eval_tokens.size());
  if (n == 0) return;
  r.eval_nll.push_back(float(nll_of(r.first_logits, sample.eval_tokens[0])));
  std::vector<int32_t> pos(n), tg(n, -1);
  std::vector<float> lp(n, 0.f);
  for (int i = 0; i < n; ++i) pos[i] = next_pos + i;
  for (int i = 0; i + 1 < n; ++i) tg[i] = sample.eval_tokens[i + 1];
  CudaSeqInput in;
  in.seq = seq;
  in.tokens = sample.eval_tokens.data();
  in.positions = pos.data();
  in.n = n;
  in.targets = tg.data();
  in.target_logprob = lp.data();
  CudaForwardOptions opt;
  opt.logits = LogitsMode::None;
  opt.max_batch_tokens = cfg.max_batch_tokens;
  forward_cuda(m, cache, {in}, opt, ws);
  for (int i = 0; i + 1 < n; ++i) r.eval_nll.push_back(-lp[i]);
  DeviceSeq& s = cache.seq(seq);
  for (int& len : s.len) len -= n;
  s.appended -= n;
}

int32_t argmax_of(const std::vector<float>& v) {
  return int32_t(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

PipelineResult run_pipeline(const DeviceModel& m, const PipelineSample& sample, const PipelineConfig& cfg) {
  PipelineResult r;
  DeviceKVCache cache(m.cfg);
  CudaWorkspace ws;
  const int Q = int(sample.question.size());
  if (Q < 2) throw std::runtime_error("pipeline: the question needs at least two tokens");
  sync();
  dev_reset_peak();
  const double t0 = now_s();

  if (!cfg.parallelcomp) {
    const int n = int(sample.context.size());
    std::vector<int32_t> all(sample.context);
    all.insert(all.end(), sample.question.begin(), sample.question.end());
    const int seq = cache.new_seq(int(all.size()) + cfg.max_new_tokens);
    CudaSeqInput in;
    in.seq = seq;
    in.tokens = all.data();
    in.n = int(all.size());
    CudaForwardOptions opt;
    opt.logits = LogitsMode::Last;
    opt.logits_out = &r.first_logits;
    opt.max_batch_tokens = cfg.max_batch_tokens;
    forward_cuda(m, cache, {in}, opt, ws);
    sync();
    r.prefill_s = now_s() - t0;
    score_eval_tokens(m, cache, seq, n + Q, sample, cfg, ws, r);
    decode(m, cache, seq, n + Q, argmax_of(r.first_logits), cfg, ws, r);
    r.peak_bytes = dev_bytes_peak();
    r.peak_cache_bytes = cache.peak_bytes();
    return r;
  }

  // 1. Chunks in groups, each chunk followed by the question at positions 0..; the question's
  //    tokens are scored given the chunk; the best `keep_chunks` survive, the rest are freed.
  struct Held { double nll; int chunk, seq; };
  std::vector<Held> held;
  const int n_chunks = int(sample.chunks.size());
  r.chunk_nll.assign(n_chunks, 0.0);
  ChunkEvictHook evict(m, cfg);
  evict.question_len = Q;
  for (int g0 = 0; g0 < n_chunks; g0 += cfg.parallel_chunks) {
    const int g1 = std::min(n_chunks, g0 + cfg.parallel_chunks);
    std::vector<std::vector<int32_t>> toks(g1 - g0), pos(g1 - g0), tg(g1 - g0);
    std::vector<std::vector<float>> lp(g1 - g0);
    std::vector<CudaSeqInput> items;
    std::vector<int> seqs;
    evict.context_len.clear();
    for (int c = g0; c < g1; ++c) {
      const std::vector<int32_t>& ch = sample.chunks[c];
      const int C = int(ch.size()), i = c - g0;
      toks[i] = ch;
      toks[i].insert(toks[i].end(), sample.question.begin(), sample.question.end());
      const int n = int(toks[i].size());
      pos[i].resize(n);
      for (int t = 0; t < n; ++t) pos[i][t] = t;
      tg[i].assign(n, -1);
      for (int t = C - 1; t < n - 1; ++t) tg[i][t] = toks[i][t + 1];  // the question's tokens, first one from the context
      lp[i].assign(n, 0.f);
      const int seq = cache.new_seq(n);
      seqs.push_back(seq);
      evict.context_len.push_back(C);
      CudaSeqInput in;
      in.seq = seq;
      in.tokens = toks[i].data();
      in.positions = pos[i].data();
      in.n = n;
      in.targets = tg[i].data();
      in.target_logprob = lp[i].data();
      items.push_back(in);
    }
    CudaForwardOptions opt;
    opt.logits = LogitsMode::None;
    opt.hook = cfg.kv_evict ? &evict : nullptr;
    opt.max_batch_tokens = cfg.max_batch_tokens;
    forward_cuda(m, cache, items, opt, ws);
    for (int c = g0; c < g1; ++c) {
      const int i = c - g0, C = int(sample.chunks[c].size());
      double s = 0;
      for (int t = C - 1; t < C + Q - 1; ++t) s -= lp[i][t];
      r.chunk_nll[c] = s / Q;
      held.push_back(Held{r.chunk_nll[c], c, seqs[i]});
    }
    std::sort(held.begin(), held.end(), [](const Held& a, const Held& b) { return a.nll < b.nll || (a.nll == b.nll && a.chunk < b.chunk); });
    while (int(held.size()) > cfg.keep_chunks) {
      r.freed_chunks.push_back(held.back().chunk);
      cache.free_seq(held.back().seq);
      held.pop_back();
    }
  }
  std::sort(held.begin(), held.end(), [](const Held& a, const Held& b) { return a.chunk < b.chunk; });

  // 2. Kept caches in document order without their question rows; BOS only from the first.
  std::vector<SeqPiece> pieces;
  int longest = 0;
  for (size_t i = 0; i < held.size(); ++i) {
    r.kept_chunks.push_back(held[i].chunk);
    pieces.push_back(SeqPiece{held[i].seq, i == 0 ? 0 : cfg.concat_drop_first, Q});
    longest = std::max(longest, int(sample.chunks[held[i].chunk].size()));
  }
  const int global = cache.concat(pieces, ws.stream);
  for (const Held& h : held) cache.free_seq(h.seq);

  // 3. The question again, after the longest kept chunk, optionally calibrating.
  std::vector<int32_t> qpos(Q);
  for (int i = 0; i < Q; ++i) qpos[i] = longest + i;
  CalibHook calib(m, cfg);
  CudaSeqInput in;
  in.seq = global;
  in.tokens = sample.question.data();
  in.positions = qpos.data();
  in.n = Q;
  std::vector<int32_t> qtg;
  if (cfg.score_question) {  // token i + 1 given the kept cache and question tokens 0..i
    qtg.assign(Q, -1);
    for (int i = 0; i + 1 < Q; ++i) qtg[i] = sample.question[i + 1];
    r.question_logprob.assign(Q, 0.f);
    in.targets = qtg.data();
    in.target_logprob = r.question_logprob.data();
  }
  CudaForwardOptions opt;
  opt.logits = LogitsMode::Last;
  opt.logits_out = &r.first_logits;
  opt.hook = cfg.calib ? &calib : nullptr;
  opt.max_batch_tokens = cfg.max_batch_tokens;
  forward_cuda(m, cache, {in}, opt, ws);
  sync();
  r.prefill_s = now_s() - t0;
  if (cfg.score_question) r.question_logprob.resize(Q - 1);
  score_eval_tokens(m, cache, global, longest + Q, sample, cfg, ws, r);
  decode(m, cache, global, longest + Q, argmax_of(r.first_logits), cfg, ws, r);
  r.peak_bytes = dev_bytes_peak();
  r.peak_cache_bytes = cache.peak_bytes();
  return r;
}

}  // namespace cuda
}  // namespace pcomp
