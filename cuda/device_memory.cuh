// Device memory with a running count: every engine allocation goes through dev_alloc so that the
// benchmarks can report the peak bytes the engine held (weights + KV caches + scratch), which
// nvidia-smi cannot separate from the CUDA context and other processes.
#pragma once
#include <cstddef>
#include <utility>

#include "common.cuh"

namespace pcomp {
namespace cuda {

void* dev_alloc(size_t bytes);
void dev_free(void* p);
size_t dev_bytes_in_use();
size_t dev_bytes_peak();
void dev_reset_peak();  // peak := bytes in use now

// A growable device array that frees itself. Growing discards the old contents.
template <class T>
struct DevBuf {
  T* p = nullptr;
  size_t n = 0;
  DevBuf() = default;
  explicit DevBuf(size_t count) { grow(count); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  DevBuf(DevBuf&& o) noexcept : p(o.p), n(o.n) { o.p = nullptr; o.n = 0; }
  DevBuf& operator=(DevBuf&& o) noexcept { std::swap(p, o.p); std::swap(n, o.n); return *this; }
  ~DevBuf() { release(); }
  void grow(size_t count) {
    if (count <= n) return;
    release();
    p = static_cast<T*>(dev_alloc(count * sizeof(T)));
    n = count;
  }
  void release() {
    if (p) dev_free(p);
    p = nullptr;
    n = 0;
  }
  T* get() const { return p; }
};

// Host <-> device copies on the default stream (synchronous; used by op wrappers and set-up code).
void to_device(void* dst, const void* src, size_t bytes);
void to_host(void* dst, const void* src, size_t bytes);

}  // namespace cuda
}  // namespace pcomp
