// The library's own worker threads. Each recurrent direction runs its time loop on contiguous slices
// of the batch, one per thread (a sequence's steps depend only on its own earlier steps), and gemm()
// splits large products into row or column slices, each a single-threaded BLAS call. BLAS's own
// threads stay off, so no thread ever spins beside another: set_threads(n) means n threads in all.
#pragma once

#include <functional>

namespace rnnkit {

// Threads for BLAS and for the batch slices (1 = everything on the calling thread). Not to be called
// while a parallel_slices is running.
void set_threads(int threads);
int thread_count();

// Splits [0, n) into up to thread_count() contiguous slices of at least min_slice items (except when
// n is smaller) and calls fn(begin, end) for each, the calling thread taking the first; returns when
// all are done. An exception thrown by fn is rethrown here (the first one). Called from inside a
// slice, or while another thread's call holds the workers, it runs fn(0, n) on the calling thread:
// several threads may call it at once (each gets the workers or runs alone), never deadlocking.
void parallel_slices(int n, int min_slice, const std::function<void(int begin, int end)>& fn);

}  // namespace rnnkit
