// Buffers whose storage starts on a 128-byte boundary.
//
// rnnkit's threads each write their own slice of a batch's rows (a direction's time loop, the
// products split over rows). With std::vector's storage, which glibc starts 16 bytes past a cache
// line (mmap'd blocks) or anywhere on 16 bytes (the heap), the last line of one thread's rows is the
// first of the next thread's, and the two cores pass that line back and forth on every step. Aligned
// to 128 bytes (a pair of lines, which the adjacent-line prefetcher fetches together), rows of a
// multiple of 16 floats never share a line across a slice boundary. The recurrent layers' and the
// model's per-step buffers (RecurrentCache, ModelCache) and packed weights (PackedMatrix) use it.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace rnnkit {

inline constexpr std::size_t kBufferAlignment = 128;

template <typename T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() noexcept = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(kBufferAlignment)));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(kBufferAlignment)); }
  template <typename U>
  bool operator==(const AlignedAllocator<U>&) const noexcept {
    return true;
  }
};

// A std::vector whose data() is 128-byte aligned.
template <typename T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

}  // namespace rnnkit
