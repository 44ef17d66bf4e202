// A fixed pool of workers woken per parallel_slices call. The hand-over takes no lock: the caller
// publishes the call in one atomic word (generation and slice count) and waits for a count of
// unfinished slices to reach zero. Between calls a worker spins for the next one, and the caller for
// the last slice, up to 200 us before blocking on a condition variable, so an idle pool takes no CPU.
// The recurrent time loop hands work over once or twice a step; in a virtual machine a call on which
// one side had gone to sleep cost 17-20 us more, and with a 20 us spin one late wake-up let the two
// sides take turns sleeping for the rest of the loop (fork-join with 30 us between calls: 18 us of
// overhead a call, against 5 us spinning 200 us; bench/README.md step 31).
#include "rnnkit/core/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <exception>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rnnkit/core/error.h"
#include "rnnkit/core/gemm.h"

namespace rnnkit {
namespace {

class Pool {
 public:
  ~Pool() { resize(0); }

  void resize(int workers) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_.store(true);
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
    stop_.store(false);
    // A new worker starts from the current generation: earlier calls are not its to run.
    const uint64_t g = state_.load() >> kSliceBits;
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this, i, g] { loop(i + 1, g); });
  }

  int workers() const { return int(threads_.size()); }

  // Runs job(slice) for slice in [0, slices); the caller runs slice 0. Returns false, having run
  // nothing, when another thread is using the pool (the caller then runs the work itself).
  bool run(int slices, FunctionRef<void(int)> job) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    // Published by the store of the new state: the workers of this call read job_ only after they
    // see it, and the next call writes job_ only after they have all finished.
    job_.store(&job, std::memory_order_relaxed);
    pending_.store(slices - 1, std::memory_order_relaxed);
    error_ = nullptr;
    const uint64_t next = ((state_.load(std::memory_order_relaxed) >> kSliceBits) + 1) << kSliceBits;
    state_.store(next | uint64_t(slices));  // seq_cst: ordered before the read of sleepers_ below
    if (sleepers_.load() > 0) {  // a worker stopped spinning: wake it (a system call)
      std::lock_guard<std::mutex> lock(mu_);
      wake_.notify_all();
    }
    try {
      job(0);
    } catch (...) {
      record(std::current_exception());
    }
    if (!spin([&] { return pending_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> lock(mu_);
      caller_waits_.store(true);  // seq_cst: ordered before the read of pending_ in the wait
      done_.wait(lock, [&] { return pending_.load() == 0; });
      caller_waits_.store(false, std::memory_order_relaxed);
    }
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  // The state word: the call's generation above kSliceBits, its slice count below.
  static constexpr int kSliceBits = 16;
  static_assert(kMaxThreads < (1 << kSliceBits), "a call's slice count must fit below the generation");

  // Spins up to 200 us for done() to hold, without a system call; returns whether it held.
  template <typename Done>
  static bool spin(Done&& done) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
    for (int i = 0; !done(); ++i) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) return done();
    }
    return true;
  }

  void record(std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(error_mu_);
    if (!error_) error_ = e;
  }

  // A worker: waits for a generation after `seen`, runs its slice of it when the call has one, and
  // counts itself done. No lock is taken unless one side has to sleep: a contended mutex costs a
  // system call on each side, which in a virtual machine came to several microseconds per call.
  void loop(int slice, uint64_t seen) {
    for (;;) {
      auto fresh = [&] { return stop_.load(std::memory_order_relaxed) || (state_.load() >> kSliceBits) != seen; };
      if (!spin(fresh)) {
        sleepers_.fetch_add(1);  // seq_cst: ordered before the read of state_ in the wait
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, fresh);
        lock.unlock();
        sleepers_.fetch_sub(1);
      }
      if (stop_.load()) return;
      const uint64_t state = state_.load(std::memory_order_acquire);
      seen = state >> kSliceBits;
      if (slice >= int(state & ((uint64_t(1) << kSliceBits) - 1))) continue;  // not needed this call
      try {
        (*job_.load(std::memory_order_relaxed))(slice);
      } catch (...) {
        record(std::current_exception());
      }
      if (pending_.fetch_sub(1) == 1 && caller_waits_.load()) {  // the last one, and the caller sleeps
        std::lock_guard<std::mutex> lock(mu_);
        done_.notify_one();
      }
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mu_, error_mu_;  // mu_: only for sleeping and waking
  std::mutex busy_;           // held by the thread whose work the pool runs
  std::condition_variable wake_, done_;
  std::atomic<const FunctionRef<void(int)>*> job_ = nullptr;
  std::atomic<uint64_t> state_ = 0;
  std::atomic<int> pending_ = 0, sleepers_ = 0;
  std::atomic<bool> caller_waits_ = false, stop_ = false;
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
  require(threads <= kMaxThreads, [&] {
    return "at most " + std::to_string(kMaxThreads) + " threads, got " + std::to_string(threads);
  });
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

void parallel_for(size_t n, FunctionRef<void(size_t)> fn) {
  require(n <= size_t(std::numeric_limits<int>::max()), "parallel_for over " + std::to_string(n) + " items");
  // Each slice stops at its first failing item; the error rethrown is the lowest item's, the one a
  // loop in order meets first, whichever thread failed first (a folder of files with several bad ones
  // names the same one every run).
  std::mutex mutex;
  size_t first = n;
  std::exception_ptr error;
  parallel_slices(int(n), 1, [&](int begin, int end) {
    for (int i = begin; i < end; ++i) {
      try {
        fn(size_t(i));
      } catch (...) {
        const std::lock_guard<std::mutex> lock(mutex);
        if (size_t(i) < first) first = size_t(i), error = std::current_exception();
        return;
      }
    }
  });
  if (error) std::rethrow_exception(error);
}

int parallel_slice_count(int n, int min_slice) { return t_in_slice || n <= 0 ? 1 : slice_count(n, min_slice); }

void parallel_slices_at(int n, int slices, const int* bounds, FunctionRef<void(int, int)> fn) {
  if (n <= 0) return;
  run_slices(n, slices, [bounds](int s) { return bounds[s]; }, fn);
}

void block_balanced_bounds(int n, int horizon, const int* steps, int slices, int min_slice, int block,
                           int64_t block_cost, int* bounds) {
  require(slices >= 1 && block >= 1 && int64_t(slices) * std::max(1, min_slice) <= std::max(n, 1),
          "block_balanced_bounds: too many slices for the items");
  thread_local std::vector<int> count;  // count[t]: the running items of a slice at step t
  count.resize(size_t(std::max(horizon, 0)));
  auto steps_of = [&](int i) { return std::clamp(steps[i], 0, std::max(horizon, 0)); };
  // What item i adds to a slice's cost, and adding it (count updated).
  auto add = [&](int i) {
    int64_t more = steps_of(i);
    for (int t = 0; t < steps_of(i); ++t) more += count[size_t(t)]++ % block == 0 ? block_cost : 0;
    return more;
  };
  if (slices == 2) {  // every cut tried: the costs of [0, i) from the left and of [i, n) from the right
    thread_local std::vector<int64_t> left, right;
    left.assign(size_t(n) + 1, 0), right.assign(size_t(n) + 1, 0);
    std::fill(count.begin(), count.end(), 0);
    for (int i = 0; i < n; ++i) left[size_t(i) + 1] = left[size_t(i)] + add(i);
    std::fill(count.begin(), count.end(), 0);
    for (int i = n - 1; i >= 0; --i) right[size_t(i)] = right[size_t(i) + 1] + add(i);
    int best = std::max(1, min_slice);  // the last of the cuts whose larger side costs least
    for (int i = best; i <= n - std::max(1, min_slice); ++i)
      if (std::max(left[size_t(i)], right[size_t(i)]) <= std::max(left[size_t(best)], right[size_t(best)])) best = i;
    bounds[0] = 0, bounds[1] = best, bounds[2] = n;
    return;
  }
  // Slices of at most `limit` each, greedily, each of at least min_slice items and leaving min_slice to
  // each one after it: how many it takes (slices + 1 when they do not fit), bounds set.
  auto cut = [&](int64_t limit) {
    std::fill(bounds, bounds + slices + 1, n);
    bounds[0] = 0;
    int used = 0, i = 0;
    while (i < n) {
      if (used == slices) return slices + 1;
      std::fill(count.begin(), count.end(), 0);
      const int first = i, last = n - (slices - used - 1) * min_slice;
      int64_t cost = 0;
      for (; i < last; ++i) {
        const int64_t more = add(i);
        if (i - first >= min_slice && cost + more > limit) {  // item i starts the next slice
          for (int t = 0; t < steps_of(i); ++t) --count[size_t(t)];
          break;
        }
        cost += more;
      }
      bounds[++used] = i;
    }
    return used;
  };
  // The least limit that fits lies between the whole's cost over `slices` (the slices' costs add up to
  // at least the whole's: a step's blocks only add up) and the whole's cost.
  std::fill(count.begin(), count.end(), 0);
  int64_t hi = 0;
  for (int i = 0; i < n; ++i) hi += add(i);
  int64_t lo = hi / slices;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (cut(mid) <= slices) hi = mid;
    else lo = mid + 1;
  }
  cut(hi);
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
