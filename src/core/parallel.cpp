// A fixed pool of workers woken per parallel_slices call. Workers block on a condition variable
// between calls, so they take no CPU away from BLAS's threads while the GEMMs run.
#include "rnnkit/core/parallel.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "rnnkit/core/gemm.h"

namespace rnnkit {
namespace {

class Pool {
 public:
  ~Pool() { resize(0); }

  void resize(int workers) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
    stop_ = false;
    // A new worker starts from the current generation: earlier calls are not its to run.
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this, i, g = generation_] { loop(i + 1, g); });
  }

  int workers() const { return int(threads_.size()); }

  // Runs job(slice) for slice in [0, slices); the caller runs slice 0. Returns false, having run
  // nothing, when another thread is using the pool (the caller then runs the work itself).
  bool run(int slices, FunctionRef<void(int)> job) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    std::unique_lock<std::mutex> lock(mu_);
    job_ = &job;
    slices_ = slices;
    pending_ = slices - 1;
    error_ = nullptr;
    ++generation_;
    lock.unlock();
    wake_.notify_all();
    try {
      job(0);
    } catch (...) {
      record(std::current_exception());
    }
    lock.lock();
    done_.wait(lock, [&] { return pending_ == 0; });
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  void record(std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(error_mu_);
    if (!error_) error_ = e;
  }

  void loop(int slice, unsigned long seen) {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (slice >= slices_) continue;
      const FunctionRef<void(int)>* job = job_;
      lock.unlock();
      try {
        (*job)(slice);
      } catch (...) {
        record(std::current_exception());
      }
      lock.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mu_, error_mu_;
  std::mutex busy_;  // held by the thread whose work the pool runs
  std::condition_variable wake_, done_;
  const FunctionRef<void(int)>* job_ = nullptr;
  int slices_ = 0, pending_ = 0;
  unsigned long generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

Pool& pool() {
  static Pool p;
  return p;
}

int g_threads = 1;
thread_local bool t_in_slice = false;  // inside a parallel_slices job: nested calls run inline

}  // namespace

void set_threads(int threads) {
  g_threads = std::max(1, threads);
  // BLAS runs single-threaded inside our slices (gemm() splits large products over the pool), so
  // its own threads never spin beside ours.
  set_blas_threads(1);
  pool().resize(g_threads - 1);
}

int thread_count() { return g_threads; }

void parallel_slices(int n, int min_slice, FunctionRef<void(int, int)> fn) {
  if (n <= 0) return;
  const int slices = std::max(1, std::min(g_threads, n / std::max(1, min_slice)));
  if (slices == 1 || t_in_slice) return fn(0, n);
  const bool ran = pool().run(slices, [&](int s) {
    const int begin = int(int64_t(n) * s / slices), end = int(int64_t(n) * (s + 1) / slices);
    t_in_slice = true;
    struct Reset {
      ~Reset() { t_in_slice = false; }
    } reset;
    if (begin < end) fn(begin, end);
  });
  if (!ran) fn(0, n);  // another thread (a second model, a server's request) has the pool
}

}  // namespace rnnkit
