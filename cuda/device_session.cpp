// See device_session.cuh.
#include <string>

#include "device_session.cuh"
#include "pipeline_cuda.cuh"

namespace pcomp {
namespace cuda {

cuda_ops::DeviceModelHandle* model_upload(const Model& m, const RopeParams& rope, InvFreqFn inv_freq) {
  auto h = new cuda_ops::DeviceModelHandle();
  h->model = upload_model(m, rope, inv_freq);
  return h;
}

cuda_ops::DeviceModelHandle* model_random(const ModelConfig& cfg, const RopeParams& rope, InvFreqFn inv_freq,
                                          uint64_t seed) {
  auto h = new cuda_ops::DeviceModelHandle();
  h->model = random_device_model(cfg, rope, inv_freq, seed);
  return h;
}

void model_free(cuda_ops::DeviceModelHandle* h) { delete h; }

size_t model_bytes(const cuda_ops::DeviceModelHandle* h) { return h->model->weight_bytes; }

cuda_ops::DeviceSession* session_new(const cuda_ops::DeviceModelHandle* h) {
  auto s = new cuda_ops::DeviceSession();
  s->model = h->model.get();
  s->cache = std::make_unique<DeviceKVCache>(h->model->cfg);
  return s;
}

void session_free(cuda_ops::DeviceSession* s) { delete s; }

int seq_new(cuda_ops::DeviceSession* s, int capacity) { return s->cache->new_seq(capacity); }

int seq_concat(cuda_ops::DeviceSession* s, const int* seqs, int n) {
  std::vector<SeqPiece> pieces;
  for (int i = 0; i < n; ++i) pieces.push_back(SeqPiece{seqs[i], 0, 0});
  const int id = s->cache->concat(pieces, s->ws.stream);
  PCOMP_CUDA_CHECK(cudaStreamSynchronize(s->ws.stream));
  return id;
}

int seq_length(const cuda_ops::DeviceSession* s, int seq, int layer, int kv_head) {
  return s->cache->length(seq, layer, kv_head);
}

void session_forward(cuda_ops::DeviceSession* s, const SeqInput* items, int n_items, LogitsMode mode,
                     int max_batch_tokens, std::vector<float>* logits) {
  std::vector<CudaSeqInput> in(n_items);
  for (int i = 0; i < n_items; ++i) {
    in[i].seq = items[i].seq;
    in[i].tokens = items[i].tokens;
    in[i].positions = items[i].positions;
    in[i].n = items[i].n;
    in[i].targets = items[i].targets;
    in[i].target_logprob = items[i].target_logprob;
  }
  CudaForwardOptions opt;
  opt.logits = mode;
  opt.logits_out = logits;
  if (max_batch_tokens > 0) opt.max_batch_tokens = max_batch_tokens;
  forward_cuda(*s->model, *s->cache, in, opt, s->ws);
  PCOMP_CUDA_CHECK(cudaStreamSynchronize(s->ws.stream));
}

PipelineResult pipeline_run(const cuda_ops::DeviceModelHandle* h, const PipelineSample& sample,
                            const PipelineConfig& cfg) {
  return run_pipeline(*h->model, sample, cfg);
}

const char* device_name() {
  static std::string name;
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return "unknown GPU";
  name = prop.name;
  return name.c_str();
}

}  // namespace cuda
}  // namespace pcomp
