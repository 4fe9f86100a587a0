#include "kv_cache.h"

#include <algorithm>
#include <cstring>

#include "error.h"

namespace pcomp {

KVCache::KVCache(const ModelConfig& c) : n_layers_(c.n_layers), n_kv_(c.n_kv_heads), hd_(c.head_dim) {}

KVCache::KVCache(const ModelConfig& c, int n_sets)
    : n_layers_(c.n_layers), n_kv_(n_sets > 0 ? n_sets : c.n_kv_heads), hd_(c.head_dim) {}

int KVCache::new_seq(int reserve_tokens) {
  int id = -1;
  for (size_t i = 0; i < seqs_.size(); ++i)
    if (!seqs_[i].live) { id = int(i); break; }
  if (id < 0) { id = int(seqs_.size()); seqs_.emplace_back(); }
  Sequence& s = seqs_[id];
  s = Sequence();
  s.live = true;
  s.heads.resize(size_t(n_layers_) * n_kv_);
  if (reserve_tokens > 0) reserve(id, reserve_tokens);
  return id;
}

void KVCache::free_seq(int s) {
  if (!live(s)) return;
  seqs_[s] = Sequence();  // releases the memory now, not at the end of the sample
}

void KVCache::reserve(int s, int tokens) {
  // Geometric growth: decoding one token at a time must not copy the cache every step.
  for (auto& h : seqs_[s].heads) {
    if (h.pos.capacity() >= size_t(tokens)) continue;
    const size_t n = std::max<size_t>(size_t(tokens), h.pos.capacity() * 2);
    h.k.reserve(n * hd_);
    h.v.reserve(n * hd_);
    h.pos.reserve(n);
    h.src.reserve(n);
  }
}

void KVCache::append(int s, int layer, const float* k, const float* v, const int32_t* pos, int n) {
  Sequence& sq = seqs_[s];
  for (int h = 0; h < n_kv_; ++h) {
    KVHead& kh = sq.heads[size_t(layer) * n_kv_ + h];
    for (int t = 0; t < n; ++t) {
      const float* kr = k + (size_t(t) * n_kv_ + h) * hd_;
      const float* vr = v + (size_t(t) * n_kv_ + h) * hd_;
      kh.k.insert(kh.k.end(), kr, kr + hd_);
      kh.v.insert(kh.v.end(), vr, vr + hd_);
      kh.pos.push_back(pos[t]);
      kh.src.push_back(sq.appended + t);
    }
    kh.len += n;
  }
  note_peak();
}

void KVCache::gather(int s, int layer, int kvh, const int32_t* keep, int n) {
  KVHead& h = head(s, layer, kvh);
  int prev = -1;
  for (int i = 0; i < n; ++i) {
    int j = keep[i];
    if (j <= prev || j >= h.len) throw EngineError("kv gather: indices must be strictly increasing and < length");
    if (j != i) {
      std::memmove(&h.k[size_t(i) * hd_], &h.k[size_t(j) * hd_], sizeof(float) * hd_);
      std::memmove(&h.v[size_t(i) * hd_], &h.v[size_t(j) * hd_], sizeof(float) * hd_);
      h.pos[i] = h.pos[j];
      h.src[i] = h.src[j];
    }
    prev = j;
  }
  h.len = n;
  h.k.resize(size_t(n) * hd_);
  h.v.resize(size_t(n) * hd_);
  h.pos.resize(n);
  h.src.resize(n);
  // Evicted entries give their memory back now: the peak of a long sample depends on it.
  h.k.shrink_to_fit();
  h.v.shrink_to_fit();
  h.pos.shrink_to_fit();
  h.src.shrink_to_fit();
}

void KVCache::truncate(int s, int n) {
  for (auto& h : seqs_[s].heads) {
    if (n >= h.len) continue;
    h.len = n;
    h.k.resize(size_t(n) * hd_);
    h.v.resize(size_t(n) * hd_);
    h.pos.resize(n);
    h.src.resize(n);
  }
  if (seqs_[s].appended > n) seqs_[s].appended = n;
}

int KVCache::concat(const std::vector<int>& srcs) {
  const int out = new_seq();
  Sequence& o = seqs_[out];
  int appended = 0;
  for (int s : srcs) appended += seqs_[s].appended;
  for (size_t hi = 0; hi < o.heads.size(); ++hi) {
    KVHead& dst = o.heads[hi];
    size_t n = 0;
    for (int s : srcs) n += seqs_[s].heads[hi].len;
    dst.k.reserve(n * hd_);
    dst.v.reserve(n * hd_);
    for (int s : srcs) {
      const KVHead& h = seqs_[s].heads[hi];
      dst.k.insert(dst.k.end(), h.k.begin(), h.k.end());
      dst.v.insert(dst.v.end(), h.v.begin(), h.v.end());
      dst.pos.insert(dst.pos.end(), h.pos.begin(), h.pos.end());
      dst.src.insert(dst.src.end(), h.src.begin(), h.src.end());
      dst.len += h.len;
    }
  }
  o.appended = appended;
  note_peak();
  return out;
}

void KVCache::extend(int dst, int src) {
  Sequence& d = seqs_[dst];
  const Sequence& s = seqs_[src];
  for (size_t hi = 0; hi < d.heads.size(); ++hi) {
    KVHead& o = d.heads[hi];
    const KVHead& h = s.heads[hi];
    o.k.insert(o.k.end(), h.k.begin(), h.k.end());
    o.v.insert(o.v.end(), h.v.begin(), h.v.end());
    o.pos.insert(o.pos.end(), h.pos.begin(), h.pos.end());
    o.src.insert(o.src.end(), h.src.begin(), h.src.end());
    o.len += h.len;
  }
  d.appended += s.appended;
  note_peak();
}

size_t KVCache::bytes() const {
  size_t b = 0;
  for (const auto& s : seqs_)
    if (s.live)
      for (const auto& h : s.heads) b += (h.k.capacity() + h.v.capacity()) * sizeof(float);
  return b;
}

void KVCache::note_peak() {
  size_t b = bytes();
  if (b > peak_) peak_ = b;
}

}  // namespace pcomp
