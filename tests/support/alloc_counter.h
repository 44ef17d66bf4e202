// Heap accounting for tests: the binary that links alloc_counter.cpp replaces operator new and delete
// and counts, while `counting` is set, the allocations; it always tracks the bytes live and their peak.
#pragma once

#include <atomic>
#include <cstddef>

namespace rnnkit::testing_alloc {

extern std::atomic<bool> counting;
extern std::atomic<long> allocations;
extern std::atomic<long long> live_bytes, peak_bytes;

inline void reset_peak() { peak_bytes = live_bytes.load(); }

}  // namespace rnnkit::testing_alloc
