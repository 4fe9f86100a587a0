// See cuda_plan.h. Each knob is either mapped onto a PipelineConfig field with the CPU pipeline's
// meaning, or refused; the comments say why a mapping is exact where it is not obvious.
#include "cuda_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "error.h"
#include "json_write.h"

namespace pcomp {
namespace {

[[noreturn]] void refuse(const std::string& knob, const std::string& value, const std::string& why) {
  throw EngineError("config: " + knob + "=" + value + " is not implemented by the CUDA pipeline (" + why +
                    "); use --device cpu");
}

void need(bool ok, const std::string& knob, const std::string& value, const std::string& why) {
  if (!ok) refuse(knob, value, why);
}

void check_tokens(const int32_t* t, int n, int vocab, const std::string& where) {
  for (int i = 0; i < n; ++i)
    if (t[i] < 0 || t[i] >= vocab)
      throw EngineError("sample: token id " + std::to_string(t[i]) + " at " + where + " index " + std::to_string(i) +
                        " is outside the vocabulary (size " + std::to_string(vocab) + ")");
}

bool starts_with_bos(const pcomp_sample& s, int c, const ModelConfig& mc) {
  return mc.bos >= 0 && s.chunk_lens[c] > 0 && s.chunks[c][0] == mc.bos;
}

// How many of chunks [first, n) begin with BOS: all (1), none (0); a mix is refused by the caller,
// since the CUDA pipeline treats every chunk alike where the CPU decides per chunk.
int bos_rows(const pcomp_sample& s, int first, const ModelConfig& mc, const std::string& knob, const std::string& value) {
  int with = 0;
  for (int c = first; c < s.n_chunks; ++c) with += starts_with_bos(s, c, mc);
  const int n = std::max(0, s.n_chunks - first);
  if (with != 0 && with != n)
    refuse(knob, value, std::to_string(with) + " of " + std::to_string(n) + " chunks start with BOS; it needs all or none");
  return with > 0 ? 1 : 0;
}

cuda::CalibRegion region_of(const std::string& r) {
  if (r == "sink") return cuda::CalibRegion::Sink;
  if (r == "recent") return cuda::CalibRegion::Recent;
  if (r == "middle") return cuda::CalibRegion::Middle;
  return cuda::CalibRegion::All;
}

void plan_chunked(const PolicyConfig& cfg, const pcomp_sample& s, const ModelConfig& mc, CudaPlan& p) {
  const int n = s.n_chunks;
  if (n < 1) throw EngineError("sample: the chunked pipeline needs at least one chunk");
  if (s.question_len < 1) throw EngineError("sample: the chunked pipeline needs a question (it scores chunks and is re-encoded)");
  if (s.question_len < 2)
    throw EngineError("sample: the question has 1 token; the CUDA pipeline needs at least 2; use --device cpu");
  int shortest = INT32_MAX;
  for (int c = 0; c < n; ++c) {
    if (s.chunk_lens[c] < 1) throw EngineError("chunk " + std::to_string(c) + " is empty");
    shortest = std::min(shortest, s.chunk_lens[c]);
    p.sample.chunks.emplace_back(s.chunks[c], s.chunks[c] + s.chunk_lens[c]);
  }
  p.sample.question.assign(s.question, s.question + s.question_len);
  p.question_len = s.question_len;
  cuda::PipelineConfig& g = p.cfg;
  g.parallelcomp = true;
  g.parallel_chunks = cfg.chunk_parallel > 0 ? cfg.chunk_parallel : n;
  g.score_question = true;  // the CPU trace's questionNll (ppl --protocol paper reads it)

  // Chunk eviction: the device ranks by the mean NLL of every question token, lowest first, ties to
  // the earlier chunk, and keeps the survivors in document order: the CPU's selfinfo defaults.
  need(cfg.chunk_evict_score == "mean-nll", "chunkEvict.score", cfg.chunk_evict_score, "it scores chunks by mean-nll");
  need(cfg.chunk_evict_score_tokens == 0, "chunkEvict.scoreTokens", std::to_string(cfg.chunk_evict_score_tokens),
       "it scores every question token");
  if (cfg.chunk_evict) {
    need(cfg.chunk_evict_keep_order, "chunkEvict.keepOrder", "false", "kept chunks are concatenated in document order");
    g.keep_chunks = cfg.retrieval ? cfg.chunk_evict_k_retrieval : cfg.chunk_evict_k;
  } else {
    g.keep_chunks = n;  // no stage frees a chunk
  }

  // Concatenation: the device drops `concat_drop_first` leading rows of every kept chunk after the
  // first, with each chunk's question rows. keep-first drops BOS where a chunk has one.
  need(cfg.global_drop_chunk_question, "global.dropChunkQuestion", "false", "chunks lose their question rows");
  need(cfg.global_question_start == "longest-kept", "global.questionStart", cfg.global_question_start,
       "the question is re-encoded after the longest kept chunk");
  if (cfg.global_bos == "keep-first") g.concat_drop_first = bos_rows(s, 1, mc, "global.bos", cfg.global_bos);
  else if (cfg.global_bos == "drop-index0") g.concat_drop_first = 1;
  else g.concat_drop_first = 0;  // keep-all

  g.kv_evict = cfg.kv_evict;
  if (cfg.kv_evict) {
    need(cfg.kv_gqa == "group-sum", "kvEvict.gqa", cfg.kv_gqa, "it selects per KV head, the group's scores summed");
    need(cfg.kv_bos == "always-keep", "kvEvict.bos", cfg.kv_bos, "it keeps the same leading rows of every chunk");
    g.kv_keep_prefix = bos_rows(s, 0, mc, "kvEvict.bos", cfg.kv_bos);
    // CPU: capacity = kvEvict.capacity, or half the trained window; then at most the candidates
    // (the device's own min), and under sample-min at most the shortest chunk.
    int capacity = cfg.kv_capacity > 0 ? cfg.kv_capacity : mc.max_pos / 2;
    if (cfg.kv_capacity_rule == "sample-min") capacity = std::min(capacity, shortest);
    need(capacity >= 1, "kvEvict.capacity", std::to_string(cfg.kv_capacity), "the capacity resolves to 0 rows");
    g.kv_capacity = capacity;
    g.kv_window = cfg.kv_window;
    g.kv_kernel = cfg.kv_kernel;
    g.kv_max_pool = cfg.kv_pooling == "max";
  }

  g.calib = cfg.calib;
  if (cfg.calib) {
    need(cfg.calib_stage == "reencode", "calib.stage", cfg.calib_stage, "it calibrates while the question is re-encoded");
    need(cfg.calib_gqa == "group-mean", "calib.gqa", cfg.calib_gqa, "it scores per KV head, the group's mean");
    need(cfg.calib_region_over == "context", "calib.regionOver", cfg.calib_region_over,
         "regions span the cached context only");
    // With regions over the cached context only, no key of the question itself is evicted, so
    // calib.reencodeMask (by-position or bottom-right) is the plain causal rule either way.
    g.calib_query_rows = cfg.calib_query_rows;
    for (const CalibRule& r : cfg.calib_rules) {
      if (r.from > mc.n_layers)
        throw EngineError("config: calib.rules: rule " + r.region + ":" + std::to_string(r.from) + "-" + std::to_string(r.to) +
                          " starts past the model's " + std::to_string(mc.n_layers) + " layers");
      cuda::CalibLayers l;
      l.rule.region = region_of(r.region);
      l.rule.threshold = float(cfg.calib_threshold);
      l.rule.sink = cfg.calib_sink;
      l.rule.recent = cfg.calib_recent;
      l.rule.strict = cfg.calib_strict_edges;
      l.rule.equalise = cfg.calib_equalise;
      l.first = r.from - 1;
      l.last = std::min(r.to, mc.n_layers) - 1;
      g.calib_rules.push_back(l);
    }
  }
  int start = 0;
  for (int c = 0; c < n; ++c) {
    p.chunk_lengths.push_back(s.chunk_lens[c]);
    p.chunk_starts.push_back(start);
    start += s.chunk_lens[c];
  }
}

// The full baseline: the CPU's full-prefill (context then question, LongBench's middle truncation to
// full.maxTokens or the window less the new tokens), as one sequence on the device.
void plan_full(const PolicyConfig& cfg, const pcomp_sample& s, const ModelConfig& mc, CudaPlan& p) {
  need(!cfg.streaming, "streaming.enabled", "true", "only parallelcomp and full run on the device");
  need(!cfg.snapkv, "snapkv.enabled", "true", "only parallelcomp and full run on the device");
  std::vector<int32_t> prompt;
  for (int c = 0; c < s.n_chunks; ++c) {
    p.chunk_lengths.push_back(s.chunk_lens[c]);
    p.chunk_starts.push_back(int(prompt.size()));
    prompt.insert(prompt.end(), s.chunks[c], s.chunks[c] + s.chunk_lens[c]);
  }
  prompt.insert(prompt.end(), s.question, s.question + s.question_len);
  if (prompt.empty()) throw EngineError("sample: the prompt is empty");
  const int original = int(prompt.size());
  const int max_tokens = cfg.full_max_tokens > 0 ? cfg.full_max_tokens : std::max(2, mc.max_pos - s.max_new_tokens);
  if (original > max_tokens) {
    const int half = max_tokens / 2;
    std::vector<int32_t> kept(prompt.begin(), prompt.begin() + half);
    kept.insert(kept.end(), prompt.end() - half, prompt.end());
    prompt = kept;
  }
  const int L = int(prompt.size());
  if (L < 2) throw EngineError("sample: the prompt has 1 token; the CUDA pipeline needs at least 2; use --device cpu");
  // The device appends the question to the context; where the split falls does not matter to a
  // single sequence, and it needs at least 2 question tokens.
  const int q = std::min(L, std::max(2, s.question_len));
  p.sample.context.assign(prompt.begin(), prompt.end() - q);
  p.sample.question.assign(prompt.end() - q, prompt.end());
  p.question_len = std::min(L, s.question_len);
  p.prompt_length = L;
  p.truncated_from = original;
  p.cfg.parallelcomp = false;
}


}  // namespace

CudaPlan plan_cuda_run(const PolicyConfig& cfg, const pcomp_sample& s, const ModelConfig& mc) {
  need(cfg.rope_scaling == "none", "rope.scaling", cfg.rope_scaling, "the device model's RoPE is fixed when it is uploaded");
  for (int c = 0; c < s.n_chunks; ++c) check_tokens(s.chunks[c], s.chunk_lens[c], mc.vocab, "chunk " + std::to_string(c));
  check_tokens(s.question, s.question_len, mc.vocab, "question");
  for (int i = 0; i < s.eval_len; ++i)
    if (s.eval_tokens[i] < 0 || s.eval_tokens[i] >= mc.vocab)
      throw EngineError("eval token " + std::to_string(s.eval_tokens[i]) + " is outside the vocabulary");
  CudaPlan p;
  if (cfg.chunk_enabled) plan_chunked(cfg, s, mc, p);
  else plan_full(cfg, s, mc, p);
  p.sample.eval_tokens.assign(s.eval_tokens, s.eval_tokens + s.eval_len);
  p.cfg.max_new_tokens = s.max_new_tokens;
  p.cfg.stop_ids.assign(s.stop_ids, s.stop_ids + s.n_stop_ids);
  return p;
}

std::string cuda_trace_json(const PolicyConfig& cfg, const CudaPlan& plan, const cuda::PipelineResult& r,
                            const ModelConfig& mc) {
  const bool chunked = plan.cfg.parallelcomp;
  // Where the question's tokens sit, and the position of the first token after the prompt.
  int question_start = 0, next_pos = 0;
  if (chunked) {
    for (int c : r.kept_chunks) question_start = std::max(question_start, plan.chunk_lengths[size_t(c)]);
    next_pos = question_start + plan.question_len;
  } else {
    question_start = std::max(0, plan.prompt_length - plan.question_len);
    next_pos = plan.prompt_length;
  }
  std::ostringstream o;
  o << "{\"device\":\"cuda\",\"policy\":\"" << (chunked ? "chunked" : "full") << "\",\"preset\":\"" << json_escape(cfg.preset)
    << "\",\"cacheSets\":" << mc.n_kv_heads << ",\"chunkLengths\":";
  json_ints(o, plan.chunk_lengths);
  o << ",\"chunkStarts\":";
  json_ints(o, plan.chunk_starts);
  o << ",\"chunkScores\":[";
  for (size_t i = 0; i < r.chunk_nll.size(); ++i) { o << (i ? "," : ""); json_num(o, r.chunk_nll[i]); }
  o << "],\"keptChunks\":";
  json_ints(o, chunked ? r.kept_chunks : std::vector<int>{0});
  o << ",\"freedChunks\":";
  json_ints(o, r.freed_chunks);
  o << ",\"questionStart\":" << question_start << ",\"questionPositions\":[";
  for (int i = 0; i < plan.question_len; ++i) o << (i ? "," : "") << question_start + i;
  o << ']';
  if (chunked && !r.question_logprob.empty()) {
    o << ",\"questionNll\":[null";  // token 0 has no prediction while re-encoding
    for (float lp : r.question_logprob) { o << ','; json_num(o, -double(lp)); }
    o << ']';
  }
  o << ",\"evalPositions\":[";
  for (size_t i = 0; i < plan.sample.eval_tokens.size(); ++i) o << (i ? "," : "") << next_pos + int(i);
  o << "],\"generatedPositions\":[";
  for (size_t i = 0; i < r.tokens.size(); ++i) o << (i ? "," : "") << next_pos + int(i);
  o << "],\"finalTopLogits\":[";
  std::vector<int32_t> ids(r.first_logits.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i);
  const size_t top = std::min<size_t>(32, ids.size());
  const auto& lg = r.first_logits;
  std::partial_sort(ids.begin(), ids.begin() + top, ids.end(),
                    [&](int32_t a, int32_t b) { return lg[a] > lg[b] || (lg[a] == lg[b] && a < b); });
  for (size_t i = 0; i < top; ++i) {
    o << (i ? "," : "") << '[' << ids[i] << ',';
    json_num(o, lg[ids[i]]);
    o << ']';
  }
  o << ']';
  if (!chunked) o << ",\"promptLength\":" << plan.prompt_length << ",\"truncatedFrom\":" << plan.truncated_from;
  o << ",\"peakCacheBytes\":" << r.peak_cache_bytes << ",\"peakDeviceBytes\":" << r.peak_bytes << ",\"prefillSeconds\":";
  json_num(o, r.prefill_s);
  o << ",\"decodeSeconds\":";
  json_num(o, r.decode_s);
  o << ",\"decodeSteps\":" << r.decode_steps << "}";
  return o.str();
}

std::vector<float> cuda_result_nll(const cuda::PipelineResult& r) { return r.eval_nll; }

}  // namespace pcomp
