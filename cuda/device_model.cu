// Upload and on-device random initialisation of a DeviceModel.
#include <stdexcept>

#include "device_model.cuh"
#include "matmul.cuh"

namespace pcomp {
namespace cuda {

namespace {

__device__ __forceinline__ uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Element i of tensor `tag`: mean + std * a standard normal from a counter-based hash (Box-Muller).
__device__ __forceinline__ float hashed_normal(uint64_t seed, uint64_t tag, size_t i) {
  const uint64_t h = splitmix64(seed ^ splitmix64(tag * 0x100000001B3ull + i));
  const float u1 = (float((h >> 40) & 0xFFFFFF) + 1.f) / 16777217.f;  // (0, 1]
  const float u2 = float((h >> 16) & 0xFFFFFF) / 16777216.f;
  return sqrtf(-2.f * logf(u1)) * cospif(2.f * u2);
}

__global__ void random_bf16_kernel(bf16* dst, size_t n, uint64_t seed, uint64_t tag, float std) {
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    dst[i] = __float2bfloat16(std * hashed_normal(seed, tag, i));
}
__global__ void random_f32_kernel(float* dst, size_t n, uint64_t seed, uint64_t tag, float mean, float std) {
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    dst[i] = mean + std * hashed_normal(seed, tag, i);
}

unsigned grid_for(size_t n) { return unsigned(std::min<size_t>(ceil_div(n, size_t(256)), 65535 * 4)); }

struct Builder {
  DeviceModel& dm;
  const float* f32(const float* host, size_t n) {
    if (!host) return nullptr;
    dm.f32_store.emplace_back(n);
    to_device(dm.f32_store.back().get(), host, n * sizeof(float));
    dm.weight_bytes += n * sizeof(float);
    return dm.f32_store.back().get();
  }
  const bf16* matrix(const Weight& w, size_t n) {
    dm.bf16_store.emplace_back(n);
    bf16* d = dm.bf16_store.back().get();
    if (w.type == WeightType::BF16) {
      to_device(d, w.bf16(), n * sizeof(uint16_t));
    } else {
      DevBuf<float> tmp(n);
      to_device(tmp.get(), w.f32(), n * sizeof(float));
      convert_f32_to_bf16(d, tmp.get(), n, 0);
      PCOMP_CUDA_CHECK(cudaDeviceSynchronize());
    }
    dm.weight_bytes += n * sizeof(bf16);
    return d;
  }
  const bf16* random_matrix(size_t n, uint64_t seed, uint64_t tag, float std) {
    dm.bf16_store.emplace_back(n);
    random_bf16_kernel<<<grid_for(n), 256>>>(dm.bf16_store.back().get(), n, seed, tag, std);
    PCOMP_CUDA_LAUNCHED();
    dm.weight_bytes += n * sizeof(bf16);
    return dm.bf16_store.back().get();
  }
  const float* random_vector(size_t n, uint64_t seed, uint64_t tag, float mean, float std) {
    dm.f32_store.emplace_back(n);
    random_f32_kernel<<<grid_for(n), 256>>>(dm.f32_store.back().get(), n, seed, tag, mean, std);
    PCOMP_CUDA_LAUNCHED();
    dm.weight_bytes += n * sizeof(float);
    return dm.f32_store.back().get();
  }
};

}  // namespace

std::unique_ptr<DeviceModel> upload_model(const Model& m, const RopeParams& rope, InvFreqFn inv_freq) {
  if (!inv_freq) throw std::runtime_error("upload_model: inv_freq function missing");
  auto dm = std::make_unique<DeviceModel>();
  dm->cfg = m.cfg;
  dm->rope = rope;
  dm->inv_freq = inv_freq;
  const ModelConfig& c = m.cfg;
  const size_t D = c.dim, F = c.hidden, qd = size_t(c.n_heads) * c.head_dim, kd = size_t(c.n_kv_heads) * c.head_dim;
  Builder b{*dm};
  dm->embed = b.f32(m.embed, size_t(c.vocab) * D);
  dm->norm = b.f32(m.norm, D);
  dm->lm_head = b.matrix(m.lm_head, size_t(c.vocab) * D);
  for (const LayerWeights& w : m.layers) {
    DeviceLayer l;
    l.attn_norm = b.f32(w.attn_norm, D);
    l.ffn_norm = b.f32(w.ffn_norm, D);
    l.wq = b.matrix(w.wq, qd * D);
    l.wk = b.matrix(w.wk, kd * D);
    l.wv = b.matrix(w.wv, kd * D);
    l.wo = b.matrix(w.wo, D * qd);
    l.w_gate = b.matrix(w.w_gate, F * D);
    l.w_up = b.matrix(w.w_up, F * D);
    l.w_down = b.matrix(w.w_down, D * F);
    l.bq = b.f32(w.bq, qd);
    l.bk = b.f32(w.bk, kd);
    l.bv = b.f32(w.bv, kd);
    l.bo = b.f32(w.bo, D);
    l.b_gate = b.f32(w.b_gate, F);
    l.b_up = b.f32(w.b_up, F);
    l.b_down = b.f32(w.b_down, D);
    dm->layers.push_back(l);
  }
  return dm;
}

std::unique_ptr<DeviceModel> random_device_model(const ModelConfig& c, const RopeParams& rope, InvFreqFn inv_freq,
                                                 uint64_t seed, float init_std) {
  if (!inv_freq) throw std::runtime_error("random_device_model: inv_freq function missing");
  if (c.dim <= 0 || c.n_layers <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 || c.head_dim <= 0 || c.vocab <= 0)
    throw std::runtime_error("random_device_model: incomplete config");
  auto dm = std::make_unique<DeviceModel>();
  dm->cfg = c;
  dm->rope = rope;
  dm->inv_freq = inv_freq;
  const size_t D = c.dim, F = c.hidden, qd = size_t(c.n_heads) * c.head_dim, kd = size_t(c.n_kv_heads) * c.head_dim;
  Builder b{*dm};
  uint64_t tag = 1;
  // Embedding rows of unit-ish scale, as trained models have after the first norm.
  dm->embed = b.random_vector(size_t(c.vocab) * D, seed, tag++, 0.f, 1.f);
  dm->norm = b.random_vector(D, seed, tag++, 1.f, 0.05f);
  dm->lm_head = b.random_matrix(size_t(c.vocab) * D, seed, tag++, init_std);
  for (int i = 0; i < c.n_layers; ++i) {
    DeviceLayer l;
    l.attn_norm = b.random_vector(D, seed, tag++, 1.f, 0.05f);
    l.ffn_norm = b.random_vector(D, seed, tag++, 1.f, 0.05f);
    l.wq = b.random_matrix(qd * D, seed, tag++, init_std);
    l.wk = b.random_matrix(kd * D, seed, tag++, init_std);
    l.wv = b.random_matrix(kd * D, seed, tag++, init_std);
    l.wo = b.random_matrix(D * qd, seed, tag++, init_std);
    l.w_gate = b.random_matrix(F * D, seed, tag++, init_std);
    l.w_up = b.random_matrix(F * D, seed, tag++, init_std);
    l.w_down = b.random_matrix(D * F, seed, tag++, init_std);
    if (c.qkv_bias) {
      l.bq = b.random_vector(qd, seed, tag++, 0.f, init_std);
      l.bk = b.random_vector(kd, seed, tag++, 0.f, init_std);
      l.bv = b.random_vector(kd, seed, tag++, 0.f, init_std);
    }
    dm->layers.push_back(l);
  }
  PCOMP_CUDA_CHECK(cudaDeviceSynchronize());
  return dm;
}

}  // namespace cuda
}  // namespace pcomp
