// pcomp_run on a model loaded with device "cuda": the resolved policy config and the sample become
// the CUDA pipeline's PipelineConfig and PipelineSample (cuda/pipeline_types.h), and its result
// becomes the same trace JSON the CPU pipeline writes, with the fields the device run has.
//
// The CUDA pipeline implements ParallelComp (chunks, self-information top-k, per-chunk KV
// eviction, concatenation, re-encoding with calibration) and `full`, not every knob of
// PolicyConfig. A knob value it does not implement is an EngineError naming the knob and saying to
// use --device cpu: never a silent run with different semantics. Plain C++ (no CUDA headers), so
// the conversion is tested in every build (test/native/test_cuda_plan.cpp).
#pragma once
#include <string>
#include <vector>

#include "../../cuda/pipeline_types.h"
#include "../include/pcomp.h"
#include "model.h"
#include "policy/config.h"

namespace pcomp {

struct CudaPlan {
  cuda::PipelineConfig cfg;
  cuda::PipelineSample sample;
  // What the trace reports that the plan decides (the CPU pipeline's trace fields of the same name).
  std::vector<int> chunk_lengths, chunk_starts;
  int prompt_length = -1, truncated_from = -1;  // full: after / before middle truncation
  int question_len = 0;                          // tokens of sample.question
};

// Throws EngineError("config: <knob>=<value> ... use --device cpu") for a knob the CUDA pipeline
// does not implement, EngineError("sample: ...") for a sample it cannot run.
CudaPlan plan_cuda_run(const PolicyConfig& cfg, const pcomp_sample& sample, const ModelConfig& mc);

// The CPU trace's fields where the device run has them (see docs/architecture.md for the list),
// plus "device": "cuda", "peakDeviceBytes" and the device's timings.
std::string cuda_trace_json(const PolicyConfig& cfg, const CudaPlan& plan, const cuda::PipelineResult& r,
                            const ModelConfig& mc);

// Per-token NLL in the CPU's order: the eval tokens' (perplexity).
std::vector<float> cuda_result_nll(const cuda::PipelineResult& r);

}  // namespace pcomp
