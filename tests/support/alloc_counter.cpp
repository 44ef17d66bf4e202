#include "alloc_counter.h"

#include <malloc.h>

#include <cstdlib>
#include <new>

// operator new and delete through malloc and free, which GCC cannot see match.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace rnnkit::testing_alloc {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
std::atomic<long long> live_bytes{0}, peak_bytes{0};
}  // namespace rnnkit::testing_alloc

namespace {

void* track(void* p) {
  using namespace rnnkit::testing_alloc;
  if (!p) throw std::bad_alloc();
  if (counting) ++allocations;
  const long long now = live_bytes += (long long)malloc_usable_size(p);
  long long peak = peak_bytes.load();
  while (now > peak && !peak_bytes.compare_exchange_weak(peak, now)) {
  }
  return p;
}

void release(void* p) {
  if (!p) return;
  rnnkit::testing_alloc::live_bytes -= (long long)malloc_usable_size(p);
  std::free(p);
}

void* aligned(size_t n, std::align_val_t a) {
  return std::aligned_alloc(size_t(a), (n + size_t(a) - 1) / size_t(a) * size_t(a));
}

// The nothrow forms (std::stable_sort's temporary buffer uses them) go through the same pair, so that
// every allocation is counted and freed by the allocator that made it.
void* track_nothrow(void* p) noexcept { return p ? track(p) : nullptr; }

}  // namespace

void* operator new(size_t n) { return track(std::malloc(n ? n : 1)); }
void* operator new[](size_t n) { return track(std::malloc(n ? n : 1)); }
void* operator new(size_t n, std::align_val_t a) { return track(aligned(n, a)); }
void* operator new[](size_t n, std::align_val_t a) { return track(aligned(n, a)); }
void* operator new(size_t n, const std::nothrow_t&) noexcept { return track_nothrow(std::malloc(n ? n : 1)); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return track_nothrow(std::malloc(n ? n : 1)); }
void* operator new(size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return track_nothrow(aligned(n, a)); }
void* operator new[](size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return track_nothrow(aligned(n, a));
}
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, size_t) noexcept { release(p); }
void operator delete[](void* p, size_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
