// The library's own worker threads. Each recurrent direction runs its time loop on contiguous slices
// of the batch, one per thread (a sequence's steps depend only on its own earlier steps), and gemm()
// splits large products into row or column slices, each a single-threaded BLAS call. BLAS's own
// threads stay off, so no thread ever spins beside another: set_threads(n) means n threads in all.
#pragma once

#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

namespace rnnkit {

// A non-owning reference to a callable, valid while the callable lives (a call's argument). Unlike
// std::function it never allocates, which keeps a streaming step allocation-free.
template <typename Signature>
class FunctionRef;
template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  template <typename F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> && std::is_invocable_r_v<R, F&, Args...>)
  FunctionRef(F&& f)  // NOLINT: implicit, like std::function
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* object, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(object))(std::forward<Args>(args)...);
        }) {}
  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

// Threads for BLAS and for the batch slices (1 = everything on the calling thread; 0 or less counts as
// 1; more than kMaxThreads is an error). Not to be called while a parallel_slices is running.
constexpr int kMaxThreads = 1024;
void set_threads(int threads);
int thread_count();

// Splits [0, n) into up to thread_count() contiguous slices of at least min_slice items (except when
// n is smaller) and calls fn(begin, end) for each, the calling thread taking the first; returns when
// all are done. An exception thrown by fn is rethrown here (the first one). Called from inside a
// slice, or while another thread's call holds the workers, it runs fn(0, n) on the calling thread:
// several threads may call it at once (each gets the workers or runs alone), never deadlocking.
void parallel_slices(int n, int min_slice, FunctionRef<void(int begin, int end)> fn);
// fn(i) for every i in [0, n) (n < 2^31), in parallel_slices' contiguous slices: for items of real
// work each (a text to clean, a clip's features), not single numbers. A slice stops at its first item
// that throws; the exception rethrown is that of the lowest such item, as a loop in order would give.
void parallel_for(size_t n, FunctionRef<void(size_t i)> fn);
// The same with the slices' boundaries set by weight (weight[i] >= 0: item i's work, e.g. a sequence's
// length) so that each slice's total is as even as it can be while keeping min_slice items: a batch
// sorted by length, split evenly by count, left one thread the long sequences.
void parallel_slices_weighted(int n, int min_slice, const int* weight, FunctionRef<void(int begin, int end)> fn);
// How many slices parallel_slices would cut [0, n) into (1 inside a slice), and a run over slices
// whose boundaries the caller chose: slice s is [bounds[s], bounds[s + 1]), bounds[0] = 0 and
// bounds[slices] = n; slices from parallel_slice_count.
int parallel_slice_count(int n, int min_slice);
void parallel_slices_at(int n, int slices, const int* bounds, FunctionRef<void(int begin, int end)> fn);
// Boundaries (slices + 1 values) for `slices` contiguous slices of n items, item i running for
// steps[i] of `horizon` steps, where a step of a slice processes its running items in blocks of
// `block` (a kernel's rows): it costs block_cost for each block plus 1 for each item. The slices (each
// of at least min_slice items; slices * min_slice <= n) minimise the largest slice's cost; slices
// left empty get bounds n.
void block_balanced_bounds(int n, int horizon, const int* steps, int slices, int min_slice, int block,
                           int64_t block_cost, int* bounds);

}  // namespace rnnkit
