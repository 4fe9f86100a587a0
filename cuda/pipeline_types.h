// Plain C++ types of the GPU pipeline (pipeline_cuda.cuh) and of calibration (calib_outliers.cuh),
// kept free of CUDA headers so that tests and benchmarks built by the host compiler can use them
// through cuda_ops.h.
#ifndef PCOMP_PIPELINE_TYPES_H
#define PCOMP_PIPELINE_TYPES_H
#include <cstddef>
#include <cstdint>
#include <vector>

namespace pcomp {
namespace cuda {

enum class CalibRegion { Sink, Recent, Middle, All };

// One calibration rule (calib.* knobs): outliers are keys of the span with a score above
// `threshold` in the region; see calib_outliers.cuh for the region edges.
struct CalibRule {
  CalibRegion region = CalibRegion::All;
  float threshold = 0.1f;
  int sink = 100, recent = 100;
  bool strict = false, equalise = true;
};

// A calibration rule and the layers it covers, [first, last], 0-based.
struct CalibLayers {
  CalibRule rule;
  int first = 0, last = -1;
};

struct PipelineConfig {
  bool parallelcomp = true;     // false: the `full` baseline (one sequence, context then question)
  int keep_chunks = 3;          // chunkEvict.k
  int parallel_chunks = 4;      // chunks prefilled together in one forward (chunk.parallel)
  int concat_drop_first = 1;    // leading rows dropped from every kept chunk after the first (1: BOS)
  // Per-chunk KV eviction (kvEvict.*): score = group-sum attention of the last `kv_window` tokens,
  // pooled; BOS (index 0) and the question rows are always kept, `kv_capacity` context rows besides.
  bool kv_evict = false;
  int kv_keep_prefix = 1;       // leading rows of each chunk kept outside the capacity (1: BOS; 0: none)
  int kv_capacity = 0;          // 0: half of each chunk's context
  int kv_window = 8;
  int kv_kernel = 7;
  bool kv_max_pool = true;
  // Calibration while the question is re-encoded (calib.*), layers [calib_first, calib_last], 0-based;
  // or, when calib_rules is not empty, each of its rules on its own layers, in list order.
  bool calib = false;
  CalibRule calib_rule;
  int calib_first = 0, calib_last = -1;
  std::vector<CalibLayers> calib_rules;
  int calib_query_rows = 1;
  int max_new_tokens = 32;
  std::vector<int32_t> stop_ids;  // decoding stops before emitting any of these (none: max_new_tokens)
  bool score_question = false;    // log-probs of the question's tokens while it is re-encoded
  int max_batch_tokens = 8192;  // tokens per micro-batch inside a layer
};

struct PipelineSample {
  std::vector<std::vector<int32_t>> chunks;  // parallelcomp: each chunk's tokens (template applied)
  std::vector<int32_t> context;              // full: the whole context
  std::vector<int32_t> question;
  // Scored after the question (perplexity), then dropped from the cache before decoding.
  std::vector<int32_t> eval_tokens;
};

struct PipelineResult {
  double prefill_s = 0, decode_s = 0;
  int decode_steps = 0;                 // forward calls timed in decode_s
  size_t peak_bytes = 0;                // engine-held device bytes at peak (weights included)
  size_t peak_cache_bytes = 0;          // KV cache bytes (bf16, capacity reserved) at peak
  std::vector<int> kept_chunks;         // ascending
  std::vector<int> freed_chunks;        // in the order the online top-k dropped them
  std::vector<double> chunk_nll;        // mean NLL of the question given each chunk
  std::vector<float> question_logprob;  // score_question: [i] = log p(question[i + 1]) while re-encoding
  std::vector<float> eval_nll;          // [i] = NLL of eval_tokens[i] given everything before it
  std::vector<int32_t> tokens;          // greedy output (the first one from the prefill's logits)
  std::vector<float> first_logits;      // logits after the question, [vocab]
};

}  // namespace cuda
}  // namespace pcomp

#endif  // PCOMP_PIPELINE_TYPES_H
