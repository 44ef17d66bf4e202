// Buffers whose storage starts on a 128-byte boundary.
//
// rnnkit's threads each write their own slice of a batch's rows (a direction's time loop, the
// products split over rows). With std::vector's storage, which glibc starts 16 bytes past a cache
// line (mmap'd blocks) or anywhere on 16 bytes (the heap), the last line of one thread's rows is the
// first of the next thread's, and the two cores pass that line back and forth on every step. Aligned
// to 128 bytes (a pair of lines, which the adjacent-line prefetcher fetches together), rows of a
// multiple of 16 floats never share a line across a slice boundary. The recurrent layers' and the
// model's per-step buffers (RecurrentCache, ModelCache) and packed weights (PackedMatrix) use it.
//
// Its elements are default-initialised: resize() writes nothing into new floats. Every such buffer is
// written before it is read, and a batch longer than the one before (training on length-bucketed
// batches) would otherwise zero the grown part only for it to be overwritten: 3.5 % of a SpamAssassin
// epoch's samples (bench/README.md step 52). Built with RNNKIT_POISON_BUFFERS (the sanitizer build), new
// floating-point elements are NaN instead, so a read before the first write shows in the tests.
#pragma once

#include <cstddef>
#include <limits>
#include <new>
#include <type_traits>
#include <utility>
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
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
#ifdef RNNKIT_POISON_BUFFERS
    if constexpr (std::is_floating_point_v<U>) {
      ::new (static_cast<void*>(p)) U(std::numeric_limits<U>::quiet_NaN());
      return;
    }
#endif
    ::new (static_cast<void*>(p)) U;  // default-initialised: nothing written for float and double
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <typename U>
  bool operator==(const AlignedAllocator<U>&) const noexcept {
    return true;
  }
};

// A std::vector whose data() is 128-byte aligned and whose resize() leaves new elements unwritten.
template <typename T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

}  // namespace rnnkit
