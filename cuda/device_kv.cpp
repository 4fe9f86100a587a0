// Device KV cache bookkeeping; the copies are kv_gather launches (kv_compact.cu).
#include <algorithm>
#include <stdexcept>

#include "device_kv.cuh"
#include "kv_compact.cuh"

namespace pcomp {
namespace cuda {

DeviceKVCache::DeviceKVCache(const ModelConfig& c) : n_layers_(c.n_layers), n_kv_(c.n_kv_heads), hd_(c.head_dim) {
  if (n_kv_ > PCOMP_KV_MAX_HEADS) throw std::runtime_error("device KV cache: more than 64 KV heads");
}

int DeviceKVCache::new_seq(int capacity) {
  int id = -1;
  for (size_t i = 0; i < seqs_.size(); ++i)
    if (!seqs_[i].live) { id = int(i); break; }
  if (id < 0) { id = int(seqs_.size()); seqs_.emplace_back(); }
  DeviceSeq& s = seqs_[id];
  s = DeviceSeq();
  s.live = true;
  s.capacity = std::max(capacity, 1);
  const size_t n = size_t(n_layers_) * n_kv_ * s.capacity * hd_;
  s.k.grow(n);
  s.v.grow(n);
  s.len.assign(size_t(n_layers_) * n_kv_, 0);
  note_peak();
  return id;
}

void DeviceKVCache::free_seq(int s) {
  if (!live(s)) return;
  seqs_[s] = DeviceSeq();  // frees the device memory now
}

void DeviceKVCache::reserve(int s, int tokens, cudaStream_t stream) {
  DeviceSeq& q = seqs_[s];
  if (tokens <= q.capacity) return;
  const int cap = std::max(tokens, q.capacity + q.capacity / 2);
  const size_t n = size_t(n_layers_) * n_kv_ * cap * hd_;
  DevBuf<bf16> k(n), v(n);
  for (int l = 0; l < n_layers_; ++l)
    for (int h = 0; h < n_kv_; ++h) {
      const size_t lh = size_t(l) * n_kv_ + h;
      kv_gather(k.get() + lh * cap * hd_, v.get() + lh * cap * hd_, 0, 0, q.k.get() + lh * q.capacity * hd_,
                q.v.get() + lh * q.capacity * hd_, 0, 0, nullptr, 0, q.len[lh], 1, hd_, stream);
    }
  PCOMP_CUDA_CHECK(cudaStreamSynchronize(stream));
  q.k = std::move(k);
  q.v = std::move(v);
  q.capacity = cap;
  note_peak();
}

int DeviceKVCache::concat(const std::vector<SeqPiece>& pieces, cudaStream_t stream) {
  int cap = 1;
  for (int l = 0; l < n_layers_; ++l)
    for (int h = 0; h < n_kv_; ++h) {
      int total = 0;
      for (const SeqPiece& p : pieces) total += std::max(0, length(p.seq, l, h) - p.drop_tail - p.first);
      cap = std::max(cap, total);
    }
  const int id = new_seq(cap);  // may reallocate seqs_: take references after this line
  DeviceSeq& dst = seqs_[id];
  for (int l = 0; l < n_layers_; ++l)
    for (int h = 0; h < n_kv_; ++h) {
      const size_t lh = size_t(l) * n_kv_ + h;
      int row = 0;
      for (const SeqPiece& p : pieces) {
        const DeviceSeq& src = seqs_[p.seq];
        const int count = std::max(0, src.len[lh] - p.drop_tail - p.first);
        kv_gather(dst.k.get() + lh * dst.capacity * hd_, dst.v.get() + lh * dst.capacity * hd_, 0, row,
                  src.k.get() + lh * src.capacity * hd_, src.v.get() + lh * src.capacity * hd_, 0, p.first, nullptr, 0,
                  count, 1, hd_, stream);
        row += count;
      }
      dst.len[lh] = row;
    }
  for (const SeqPiece& p : pieces) dst.appended += seqs_[p.seq].appended;
  return id;
}

void DeviceKVCache::gather_layer(int s, int layer, const int32_t* keep, int ld_keep, const std::vector<int>& count,
                                 cudaStream_t stream) {
  DeviceSeq& q = seqs_[s];
  const size_t layer_elems = size_t(n_kv_) * q.capacity * hd_;
  scratch_k_.grow(layer_elems);
  scratch_v_.grow(layer_elems);
  bf16* k = this->k(s, layer);
  bf16* v = this->v(s, layer);
  for (int h = 0; h < n_kv_; ++h)
    kv_gather(scratch_k_.get() + size_t(h) * q.capacity * hd_, scratch_v_.get() + size_t(h) * q.capacity * hd_, 0, 0,
              k + size_t(h) * q.capacity * hd_, v + size_t(h) * q.capacity * hd_, 0, 0, keep + size_t(h) * ld_keep, 0,
              count[h], 1, hd_, stream);
  PCOMP_CUDA_CHECK(cudaMemcpyAsync(k, scratch_k_.get(), layer_elems * sizeof(bf16), cudaMemcpyDeviceToDevice, stream));
  PCOMP_CUDA_CHECK(cudaMemcpyAsync(v, scratch_v_.get(), layer_elems * sizeof(bf16), cudaMemcpyDeviceToDevice, stream));
  for (int h = 0; h < n_kv_; ++h) q.len[size_t(layer) * n_kv_ + h] = count[h];
}

size_t DeviceKVCache::bytes() const {
  size_t b = 0;
  for (const DeviceSeq& s : seqs_)
    if (s.live) b += 2 * size_t(n_layers_) * n_kv_ * s.capacity * hd_ * sizeof(bf16);
  return b;
}

}  // namespace cuda
}  // namespace pcomp
