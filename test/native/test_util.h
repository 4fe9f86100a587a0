// Helpers shared by the native op tests: seeded normal inputs and a scale-relative error.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "backend/backend.h"

namespace t {
inline std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}
// max |a - b| / max |b|: an error relative to the reference's scale.
template <class R>
double max_rel(const std::vector<float>& a, const std::vector<R>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, std::fabs(double(a[i]) - double(b[i])));
    den = std::max(den, std::fabs(double(b[i])));
  }
  return num / std::max(den, 1e-30);
}
// Host arrays as CPU backend buffers for the length of a test (the CPU backend wraps, never copies).
struct Wrap {
  const pcomp::Backend& be = pcomp::cpu_backend();
  std::vector<pcomp::Buffer*> bufs;
  Wrap() = default;
  Wrap(const Wrap&) = delete;
  ~Wrap() {
    for (auto* b : bufs) be.free(b);
  }
  pcomp::View operator()(const void* p) {
    if (!p) return pcomp::View();
    bufs.push_back(be.wrap(p, 0));
    return pcomp::View(bufs.back());
  }
  pcomp::DeviceWeight weight(const pcomp::Weight& w) {
    pcomp::DeviceWeight d = be.weight(w, 0);
    bufs.push_back(d.buf);
    return d;
  }
};
}  // namespace t
