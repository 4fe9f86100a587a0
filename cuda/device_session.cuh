// Host-level handles over the device model, cache and pipeline, behind the plain function table
// of cuda_ops.h (so code built without CUDA headers can drive the CUDA forward).
#pragma once
#include <memory>
#include <vector>

#include "cuda_ops.h"
#include "device_kv.cuh"
#include "device_model.cuh"
#include "forward_cuda.cuh"

namespace pcomp {
namespace cuda_ops {
struct DeviceModelHandle {
  std::unique_ptr<cuda::DeviceModel> model;
};
struct DeviceSession {
  const cuda::DeviceModel* model = nullptr;
  std::unique_ptr<cuda::DeviceKVCache> cache;
  cuda::CudaWorkspace ws;
};
}  // namespace cuda_ops

namespace cuda {
cuda_ops::DeviceModelHandle* model_upload(const Model& m, const RopeParams& rope, InvFreqFn inv_freq);
cuda_ops::DeviceModelHandle* model_random(const ModelConfig& cfg, const RopeParams& rope, InvFreqFn inv_freq,
                                          uint64_t seed);
void model_free(cuda_ops::DeviceModelHandle* h);
size_t model_bytes(const cuda_ops::DeviceModelHandle* h);
cuda_ops::DeviceSession* session_new(const cuda_ops::DeviceModelHandle* h);
void session_free(cuda_ops::DeviceSession* s);
int seq_new(cuda_ops::DeviceSession* s, int capacity);
int seq_concat(cuda_ops::DeviceSession* s, const int* seqs, int n);
int seq_length(const cuda_ops::DeviceSession* s, int seq, int layer, int kv_head);
void session_forward(cuda_ops::DeviceSession* s, const SeqInput* items, int n_items, LogitsMode mode,
                     int max_batch_tokens, std::vector<float>* logits);
PipelineResult pipeline_run(const cuda_ops::DeviceModelHandle* h, const PipelineSample& sample,
                            const PipelineConfig& cfg);
const char* device_name();
}  // namespace cuda
}  // namespace pcomp
