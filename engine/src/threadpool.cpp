#include "threadpool.h"


namespace pcomp {

namespace {
thread_local bool in_pool_task = false;
std::mutex g_pool_mu;
// Never destroyed at exit: a static destructor would join workers still inside a long op (full
// attention over 128K tokens), so exit() — the CLI's second Ctrl-C — would wait for the op to end.
ThreadPool* g_pool = nullptr;
int g_threads = 0;
}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop() {
  uint64_t seen = 0;
  while (true) {
    const std::function<void(int)>* job;
    int n;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
      n = job_n_;
    }
    in_pool_task = true;
    for (int i; (i = next_.fetch_add(1)) < n;) (*job)(i);
    in_pool_task = false;
    {
      // Every worker checks in for every generation, so no worker can still hold this job
      // when parallel_for returns.
      std::lock_guard<std::mutex> lk(mu_);
      if (--active_ == 0) done_cv_.notify_all();
    }
  }
}

void ThreadPool::parallel_for(int n, const std::function<void(int)>& fn) {
  if (n <= 0) return;
  if (n == 1 || workers_.empty() || in_pool_task) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
  std::lock_guard<std::mutex> run_lk(run_mu_);
  {
    std::lock_guard<std::mutex> lk(mu_);
    job_ = &fn;
    job_n_ = n;
    next_ = 0;
    active_ = int(workers_.size());
    ++generation_;
  }
  cv_.notify_all();
  in_pool_task = true;
  for (int i; (i = next_.fetch_add(1)) < n;) fn(i);
  in_pool_task = false;
  std::unique_lock<std::mutex> lk(mu_);
  done_cv_.wait(lk, [&] { return active_ == 0; });
  job_ = nullptr;
}

void set_threads(int n) {
  if (n <= 0) n = int(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  std::lock_guard<std::mutex> lk(g_pool_mu);
  if (g_pool && g_threads == n) return;
  delete g_pool;
  g_pool = new ThreadPool(n);
  g_threads = n;
}

int get_threads() {
  pool();
  return g_threads;
}

ThreadPool& pool() {
  {
    std::lock_guard<std::mutex> lk(g_pool_mu);
    if (g_pool) return *g_pool;
  }
  set_threads(0);
  return *g_pool;
}

}  // namespace pcomp
