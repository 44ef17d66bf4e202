// A fixed pool of workers woken per parallel_slices call. Between calls a worker spins a few
// microseconds for the next one (the recurrent time loop hands work over once or twice a step, and a
// wake-up through the condition variable cost several microseconds each), then blocks on a condition
// variable, so an idle pool takes no CPU.
#include "rnnkit/core/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
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
    const unsigned long g = generation_;
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this, i, g] { loop(i + 1, g); });
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
    spin([&] { return pending_.load(std::memory_order_acquire) == 0; });
    lock.lock();
    done_.wait(lock, [&] { return pending_ == 0; });
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  // Waits up to ~20 us for done() to hold, without a system call (the caller then blocks as usual).
  template <typename Done>
  static void spin(Done&& done) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(20);
    for (int i = 0; !done(); ++i) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) return;
    }
  }

  void record(std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(error_mu_);
    if (!error_) error_ = e;
  }

  void loop(int slice, unsigned long seen) {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      lock.unlock();
      spin([&] { return generation_.load(std::memory_order_acquire) != seen; });
      lock.lock();
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
  // Written under mu_; also read without it while spinning.
  int slices_ = 0;
  std::atomic<int> pending_ = 0;
  std::atomic<unsigned long> generation_ = 0;
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

namespace {

// Runs fn over `slices` slices of [0, n), slice s being [bound(s), bound(s + 1)), the caller taking
// the first; on the calling thread alone inside a slice or while another thread holds the workers.
template <typename Bound>
void run_slices(int n, int slices, Bound&& bound, FunctionRef<void(int, int)> fn) {
  if (slices == 1 || t_in_slice) return fn(0, n);
  const bool ran = pool().run(slices, [&](int s) {
    const int begin = bound(s), end = bound(s + 1);
    t_in_slice = true;
    struct Reset {
      ~Reset() { t_in_slice = false; }
    } reset;
    if (begin < end) fn(begin, end);
  });
  if (!ran) fn(0, n);  // another thread (a second model, a server's request) has the pool
}

int slice_count(int n, int min_slice) { return std::max(1, std::min(g_threads, n / std::max(1, min_slice))); }

}  // namespace

void parallel_slices(int n, int min_slice, FunctionRef<void(int, int)> fn) {
  if (n <= 0) return;
  const int slices = slice_count(n, min_slice);
  run_slices(n, slices, [&](int s) { return int(int64_t(n) * s / slices); }, fn);
}

void parallel_slices_weighted(int n, int min_slice, const int* weight, FunctionRef<void(int, int)> fn) {
  if (n <= 0) return;
  const int slices = slice_count(n, min_slice);
  if (slices == 1 || t_in_slice) return fn(0, n);
  // bounds[s]: the first item where the running weight reaches s / slices of the total, moved so that
  // every slice keeps at least min_slice items (slices * min_slice <= n). Kept from call to call: no
  // allocation once the thread count settles.
  thread_local std::vector<int> bounds;
  bounds.assign(size_t(slices) + 1, n);
  int64_t total = 0;
  for (int i = 0; i < n; ++i) total += std::max(0, weight[i]);
  bounds[0] = 0;
  int64_t running = 0;
  int i = 0;
  for (int s = 1; s < slices; ++s) {
    const int64_t target = total * s / slices;
    while (i < n && running + std::max(0, weight[i]) <= target) running += std::max(0, weight[i++]);
    const int lo = bounds[size_t(s) - 1] + std::max(1, min_slice), hi = n - (slices - s) * std::max(1, min_slice);
    bounds[size_t(s)] = std::clamp(i, lo, hi);
  }
  const int* at = bounds.data();  // (the caller's: in a worker, `bounds` names the worker's own)
  run_slices(n, slices, [at](int s) { return at[s]; }, fn);
}

}  // namespace rnnkit
