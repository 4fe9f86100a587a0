// Tracked cudaMalloc/cudaFree (see device_memory.cuh) and the error helper of common.cuh.
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "device_memory.cuh"

namespace pcomp {
namespace cuda {

void fail(cudaError_t err, const char* what, const char* file, int line) {
  throw std::runtime_error(std::string("CUDA error ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) +
                           ") in " + what + " at " + file + ":" + std::to_string(line));
}

namespace {
struct Tracker {
  std::mutex mu;
  std::unordered_map<void*, size_t> sizes;
  size_t in_use = 0, peak = 0;
};
Tracker& tracker() {
  static Tracker* t = new Tracker();  // never destroyed: frees may run during static destruction
  return *t;
}
}  // namespace

void* dev_alloc(size_t bytes) {
  if (bytes == 0) bytes = 1;
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, bytes);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky-free error state of a failed allocation
    throw std::runtime_error("GPU out of memory: could not allocate " + std::to_string(bytes >> 20) + " MiB with " +
                             std::to_string(dev_bytes_in_use() >> 20) + " MiB already held by the engine (" +
                             cudaGetErrorString(err) + ")");
  }
  Tracker& t = tracker();
  std::lock_guard<std::mutex> lock(t.mu);
  t.sizes[p] = bytes;
  t.in_use += bytes;
  if (t.in_use > t.peak) t.peak = t.in_use;
  return p;
}

void dev_free(void* p) {
  if (!p) return;
  Tracker& t = tracker();
  {
    std::lock_guard<std::mutex> lock(t.mu);
    auto it = t.sizes.find(p);
    if (it != t.sizes.end()) {
      t.in_use -= it->second;
      t.sizes.erase(it);
    }
  }
  cudaFree(p);
}

size_t dev_bytes_in_use() {
  Tracker& t = tracker();
  std::lock_guard<std::mutex> lock(t.mu);
  return t.in_use;
}
size_t dev_bytes_peak() {
  Tracker& t = tracker();
  std::lock_guard<std::mutex> lock(t.mu);
  return t.peak;
}
void dev_reset_peak() {
  Tracker& t = tracker();
  std::lock_guard<std::mutex> lock(t.mu);
  t.peak = t.in_use;
}

void to_device(void* dst, const void* src, size_t bytes) {
  if (bytes) PCOMP_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
void to_host(void* dst, const void* src, size_t bytes) {
  if (bytes) PCOMP_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

}  // namespace cuda
}  // namespace pcomp
