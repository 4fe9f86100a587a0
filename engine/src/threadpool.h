// One pool of worker threads, created once; parallel_for hands out task indices from an atomic
// counter and the calling thread works too. Nested calls run inline.
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pcomp {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  int size() const { return int(workers_.size()) + 1; }
  // Runs fn(i) for i in [0, n); blocks until all are done.
  void parallel_for(int n, const std::function<void(int)>& fn);

 private:
  void worker_loop();
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* job_ = nullptr;
  int job_n_ = 0;
  std::atomic<int> next_{0};
  int active_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::mutex run_mu_;  // one parallel_for at a time
};

// The process-wide pool; resized by set_threads (0 = number of cores).
ThreadPool& pool();
void set_threads(int n);
int get_threads();

}  // namespace pcomp
