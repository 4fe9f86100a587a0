// The per-sample trace as JSON: what tests and users inspect (names as in the float64 reference
// pipeline's result, test/oracle/policies/pipeline.ts).
#include <cmath>
#include <cstdio>
#include <sstream>

#include "run.h"
#include "../json_write.h"

namespace pcomp {
namespace {
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
}  // namespace

std::string Trace::to_json(int layers) const {
  std::ostringstream o;
  o << "{\"policy\":\"" << json_escape(policy) << "\",\"preset\":\"" << json_escape(preset) << "\",\"cacheSets\":" << cache_sets;
  o << ",\"chunkLengths\":";
  json_ints(o, chunk_lengths);
  o << ",\"chunkStarts\":";
  json_ints(o, chunk_starts);
  o << ",\"chunkScores\":[";
  for (size_t i = 0; i < chunk_scores.size(); ++i) { o << (i ? "," : ""); json_num(o, chunk_scores[i]); }
  o << "],\"keptChunks\":";
  json_ints(o, kept_chunks);
  o << ",\"freedChunks\":";
  json_ints(o, freed_order);
  o << ",\"kvKept\":[";
  for (size_t c = 0; c < kv_kept.size(); ++c) {
    o << (c ? "," : "") << '[';
    const size_t per = kv_kept[c].size() / std::max(1, layers);
    for (int l = 0; l < layers; ++l) {
      o << (l ? "," : "") << '[';
      for (size_t s = 0; s < per; ++s) { o << (s ? "," : ""); json_ints(o, kv_kept[c][l * per + s]); }
      o << ']';
    }
    o << ']';
  }
  o << "],\"globalCache\":";
  origins(o, global_cache, layers);
  o << ",\"finalCache\":";
  origins(o, final_cache, layers);
  o << ",\"questionStart\":" << question_start << ",\"questionPositions\":";
  json_ints(o, question_positions);
  if (!question_nll.empty()) {
    o << ",\"questionNll\":[";
    for (size_t i = 0; i < question_nll.size(); ++i) {
      o << (i ? "," : "");
      json_num(o, question_nll[i]);
    }
    o << ']';
  }
  o << ",\"evalPositions\":";
  json_ints(o, eval_positions);
  o << ",\"generatedPositions\":";
  json_ints(o, generated_positions);
  o << ",\"finalTopLogits\":[";
  for (size_t i = 0; i < final_top.size(); ++i) {
    o << (i ? "," : "") << '[' << final_top[i].first << ',';
    json_num(o, final_top[i].second);
    o << ']';
  }
  o << ']';
  if (attention.on && cfg) {
    o << ",\"attention\":";
    attention.to_json(o, *cfg);
  }
  if (prompt_length >= 0) o << ",\"promptLength\":" << prompt_length << ",\"truncatedFrom\":" << truncated_from;
  o << ",\"peakCacheBytes\":" << peak_bytes << ",\"cacheBytesAfterPrefill\":" << bytes_after_prefill
    << ",\"cacheBytesBeforeDecode\":" << bytes_before_decode << "}";
  return o.str();
}

}  // namespace pcomp
