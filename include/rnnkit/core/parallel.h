// The library's own worker threads, for work that splits over the rows of a batch: each recurrent
// direction runs its time loop on contiguous slices of the batch, one per thread, since a sequence's
// steps depend only on its own earlier steps. Large GEMMs use BLAS's threads instead; the two never
// run at the same time, so set_threads(n) gives each up to n.
#pragma once

#include <functional>

namespace rnnkit {

// Threads for BLAS and for the batch slices (1 = everything on the calling thread). Not to be called
// while a parallel_slices is running.
void set_threads(int threads);
int thread_count();

// Splits [0, n) into up to thread_count() contiguous slices of at least min_slice items (except when
// n is smaller) and calls fn(begin, end) for each, the calling thread taking the first; returns when
// all are done. An exception thrown by fn is rethrown here (the first one).
void parallel_slices(int n, int min_slice, const std::function<void(int begin, int end)>& fn);

}  // namespace rnnkit
