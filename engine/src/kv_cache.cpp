#include "kv_cache.h"

#include <algorithm>

#include "error.h"

namespace pcomp {

KVCache::KVCache(const ModelConfig& c, const Backend& be) : KVCache(c, be, 0) {}

KVCache::KVCache(const ModelConfig& c, const Backend& be, int n_sets)
    : be_(be),
      n_layers_(c.n_layers),
      n_kv_(n_sets > 0 ? n_sets : c.n_kv_heads),
      hd_(c.head_dim),
      row_bytes_(size_t(c.head_dim) * be.kv_elem_bytes()) {}

KVCache::~KVCache() {
  for (auto& s : seqs_) release(s);
}

void KVCache::release(Sequence& s) {
  for (auto& h : s.heads) {
    be_.free(h.k);
    be_.free(h.v);
    h.k = h.v = nullptr;
  }
  s = Sequence();
}

int KVCache::new_seq(int reserve_tokens) {
  int id = -1;
  for (size_t i = 0; i < seqs_.size(); ++i)
    if (!seqs_[i].live) { id = int(i); break; }
  if (id < 0) { id = int(seqs_.size()); seqs_.emplace_back(); }
  Sequence& s = seqs_[id];
  release(s);
  s.live = true;
  s.heads.resize(size_t(n_layers_) * n_kv_);
  if (reserve_tokens > 0) reserve(id, reserve_tokens);
  return id;
}

void KVCache::free_seq(int s) {
  if (!live(s)) return;
  release(seqs_[s]);  // gives the memory back now, not at the end of the sample
}

void KVCache::resize_head(KVHead& h, int cap) {
  if (cap == h.cap) return;
  Buffer* k = cap > 0 ? be_.alloc(size_t(cap) * row_bytes_) : nullptr;
  Buffer* v = cap > 0 ? be_.alloc(size_t(cap) * row_bytes_) : nullptr;
  const size_t keep = size_t(std::min(h.len, cap)) * row_bytes_;
  if (keep) {
    be_.copy(k, 0, h.k, 0, keep);
    be_.copy(v, 0, h.v, 0, keep);
  }
  be_.free(h.k);
  be_.free(h.v);
  h.k = k;
  h.v = v;
  h.cap = cap;
}

void KVCache::reserve(int s, int tokens) {
  // Geometric growth: decoding one token at a time must not copy the cache every step.
  for (auto& h : seqs_[s].heads) {
    if (h.cap >= tokens) continue;
    resize_head(h, std::max(tokens, h.cap * 2));
    h.pos.reserve(h.cap);
    h.src.reserve(h.cap);
  }
  note_peak();
}

void KVCache::append(int s, int layer, View k, View v, int src_heads, const int32_t* pos, int n) {
  Sequence& sq = seqs_[s];
  const int group = n_kv_ / src_heads;
  const size_t stride = size_t(src_heads) * hd_;
  for (int h = 0; h < n_kv_; ++h) {
    KVHead& kh = sq.heads[size_t(layer) * n_kv_ + h];
    if (kh.len + n > kh.cap) resize_head(kh, std::max(kh.len + n, kh.cap * 2));
    const size_t off = size_t(h / group) * hd_;
    be_.kv_write(kh.k, kh.len, k.at(off), stride, n, hd_);
    be_.kv_write(kh.v, kh.len, v.at(off), stride, n, hd_);
    for (int t = 0; t < n; ++t) {
      kh.pos.push_back(pos[t]);
      kh.src.push_back(sq.appended + t);
    }
    kh.len += n;
  }
  note_peak();
}

void KVCache::gather(int s, int layer, int set, const int32_t* keep, int n) {
  KVHead& h = head_mut(s, layer, set);
  int prev = -1;
  for (int i = 0; i < n; ++i) {
    const int j = keep[i];
    if (j <= prev || j >= h.len) throw EngineError("kv gather: indices must be strictly increasing and < length");
    h.pos[i] = h.pos[j];
    h.src[i] = h.src[j];
    prev = j;
  }
  if (n > 0) be_.kv_gather(h.k, h.v, keep, n, hd_);
  h.len = n;
  h.pos.resize(n);
  h.src.resize(n);
  // Evicted entries give their memory back now: the peak of a long sample depends on it.
  resize_head(h, n);
  h.pos.shrink_to_fit();
  h.src.shrink_to_fit();
}

void KVCache::truncate(int s, int n) {
  for (auto& h : seqs_[s].heads) {
    if (n >= h.len) continue;
    h.len = n;
    h.pos.resize(n);
    h.src.resize(n);
  }
  if (seqs_[s].appended > n) seqs_[s].appended = n;
}

int KVCache::concat(const std::vector<int>& srcs) {
  const int out = new_seq();  // may reallocate seqs_: take references after this line
  Sequence& o = seqs_[out];
  int appended = 0;
  for (int s : srcs) appended += seqs_[s].appended;
  for (size_t hi = 0; hi < o.heads.size(); ++hi) {
    KVHead& dst = o.heads[hi];
    int n = 0;
    for (int s : srcs) n += seqs_[s].heads[hi].len;
    resize_head(dst, n);
    for (int s : srcs) {
      const KVHead& h = seqs_[s].heads[hi];
      be_.copy(dst.k, size_t(dst.len) * row_bytes_, h.k, 0, size_t(h.len) * row_bytes_);
      be_.copy(dst.v, size_t(dst.len) * row_bytes_, h.v, 0, size_t(h.len) * row_bytes_);
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
    if (o.len + h.len > o.cap) resize_head(o, o.len + std::max(o.len, h.len));
    be_.copy(o.k, size_t(o.len) * row_bytes_, h.k, 0, size_t(h.len) * row_bytes_);
    be_.copy(o.v, size_t(o.len) * row_bytes_, h.v, 0, size_t(h.len) * row_bytes_);
    o.pos.insert(o.pos.end(), h.pos.begin(), h.pos.end());
    o.src.insert(o.src.end(), h.src.begin(), h.src.end());
    o.len += h.len;
  }
  d.appended += s.appended;
  note_peak();
}

void KVCache::shift_positions(int s, int layer, int set, int from, int delta, View inv_freq) {
  KVHead& h = head_mut(s, layer, set);
  const int n = h.len - from;
  if (n <= 0 || delta == 0) return;
  be_.kv_rope_shift(h.k, from, n, hd_, inv_freq, delta);
  for (int j = from; j < h.len; ++j) h.pos[j] += delta;
}

size_t KVCache::bytes() const {
  size_t b = 0;
  for (const auto& s : seqs_)
    if (s.live)
      for (const auto& h : s.heads) b += 2 * size_t(h.cap) * row_bytes_;
  return b;
}

void KVCache::note_peak() {
  size_t b = bytes();
  if (b > peak_) peak_ = b;
}

}  // namespace pcomp
