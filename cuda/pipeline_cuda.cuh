// ParallelComp (and the full-attention baseline) end to end on the GPU, for the benchmark and the
// end-to-end checks: chunked parallel prefill at reused positions with per-chunk self-information,
// an online top-k of chunks (worse ones freed as soon as they drop out, so peak memory is about
// k + parallel_chunks chunk caches), optional per-chunk KV eviction computed beside attention,
// concatenation of the kept caches, question re-encoding after the longest kept chunk with
// optional attention calibration, then greedy decoding. Stage semantics follow
// shared research notes §1.7 and the reference policies in test/oracle/policies; choices the
// engine's CPU pipeline may make differently are named on each field (pipeline_types.h).
#pragma once
#include <cstdint>
#include <vector>

#include "calib_outliers.cuh"
#include "device_kv.cuh"
#include "device_model.cuh"
#include "forward_cuda.cuh"
#include "pipeline_types.h"

namespace pcomp {
namespace cuda {

PipelineResult run_pipeline(const DeviceModel& m, const PipelineSample& sample, const PipelineConfig& cfg);

}  // namespace cuda
}  // namespace pcomp
