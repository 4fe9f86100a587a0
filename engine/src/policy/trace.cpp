// The per-sample trace as JSON: what tests and users inspect (names as in the float64 reference
// pipeline's result, test/oracle/policies/pipeline.ts).
#include <cmath>
#include <cstdio>
#include <sstream>

#include "run.h"

namespace pcomp {
namespace {
void num(std::ostringstream& o, double v) {
  if (!std::isfinite(v)) { o << "null"; return; }
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", v);
  o << b;
}
template <class T>
void ints(std::ostringstream& o, const std::vector<T>& v) {
  o << '[';
  for (size_t i = 0; i < v.size(); ++i) o << (i ? "," : "") << v[i];
  o << ']';
}
void origins(std::ostringstream& o, const OriginSets& sets, int layers) {
  o << '[';
  const size_t per = layers > 0 ? sets.size() / layers : 0;
  for (int l = 0; l < layers; ++l) {
    o << (l ? "," : "") << '[';
    for (size_t s = 0; s < per; ++s) {
      o << (s ? "," : "") << '[';
      const auto& v = sets[l * per + s];
      for (size_t i = 0; i < v.size(); ++i) o << (i ? "," : "") << '[' << v[i].chunk << ',' << v[i].index << ']';
      o << ']';
    }
    o << ']';
  }
  o << ']';
}
std::string esc(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c == '"' || c == '\\') r += '\\';
    r += c;
  }
  return r;
}
}  // namespace

std::string Trace::to_json(int layers) const {
  std::ostringstream o;
  o << "{\"policy\":\"" << esc(policy) << "\",\"preset\":\"" << esc(preset) << "\",\"cacheSets\":" << cache_sets;
  o << ",\"chunkLengths\":";
  ints(o, chunk_lengths);
  o << ",\"chunkStarts\":";
  ints(o, chunk_starts);
  o << ",\"chunkScores\":[";
  for (size_t i = 0; i < chunk_scores.size(); ++i) { o << (i ? "," : ""); num(o, chunk_scores[i]); }
  o << "],\"keptChunks\":";
  ints(o, kept_chunks);
  o << ",\"freedChunks\":";
  ints(o, freed_order);
  o << ",\"kvKept\":[";
  for (size_t c = 0; c < kv_kept.size(); ++c) {
    o << (c ? "," : "") << '[';
    const size_t per = kv_kept[c].size() / std::max(1, layers);
    for (int l = 0; l < layers; ++l) {
      o << (l ? "," : "") << '[';
      for (size_t s = 0; s < per; ++s) { o << (s ? "," : ""); ints(o, kv_kept[c][l * per + s]); }
      o << ']';
    }
    o << ']';
  }
  o << "],\"globalCache\":";
  origins(o, global_cache, layers);
  o << ",\"finalCache\":";
  origins(o, final_cache, layers);
  o << ",\"questionStart\":" << question_start << ",\"questionPositions\":";
  ints(o, question_positions);
  if (!question_nll.empty()) {
    o << ",\"questionNll\":[";
    for (size_t i = 0; i < question_nll.size(); ++i) {
      o << (i ? "," : "");
      num(o, question_nll[i]);
    }
    o << ']';
  }
  o << ",\"evalPositions\":";
  ints(o, eval_positions);
  o << ",\"generatedPositions\":";
  ints(o, generated_positions);
  o << ",\"finalTopLogits\":[";
  for (size_t i = 0; i < final_top.size(); ++i) {
    o << (i ? "," : "") << '[' << final_top[i].first << ',';
    num(o, final_top[i].second);
    o << ']';
  }
  o << ']';
  if (prompt_length >= 0) o << ",\"promptLength\":" << prompt_length << ",\"truncatedFrom\":" << truncated_from;
  o << ",\"peakCacheBytes\":" << peak_bytes << ",\"cacheBytesAfterPrefill\":" << bytes_after_prefill
    << ",\"cacheBytesBeforeDecode\":" << bytes_before_decode << "}";
  return o.str();
}

}  // namespace pcomp
