// Independent work units spread over OpenMP threads, each thread with its own float scratch buffer.
#pragma once

#include <cstdint>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace fastprune {
namespace cpu {

// Threads a call asked for: num_threads if positive, else the OpenMP default (1 without OpenMP).
inline int requested_threads(int num_threads) {
#if defined(_OPENMP)
  return num_threads > 0 ? num_threads : omp_get_max_threads();
#else
  (void)num_threads;
  return 1;
#endif
}

// fn(unit, scratch) for every unit in [0, units), statically split over at most `threads` threads.
// Scratch is allocated here, before the parallel region, where an exception can still propagate.
template <typename Fn>
void for_each_unit(int64_t units, int threads, int64_t scratch_floats, Fn fn) {
  if (units <= 0) return;
  if (threads > units) threads = static_cast<int>(units);
  if (threads < 1) threads = 1;
  const int64_t stride = (scratch_floats + 15) / 16 * 16;
  std::vector<float> scratch(static_cast<size_t>(stride * threads));
#if defined(_OPENMP)
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
#endif
  for (int64_t u = 0; u < units; ++u) {
#if defined(_OPENMP)
    fn(u, scratch.data() + omp_get_thread_num() * stride);
#else
    fn(u, scratch.data());
#endif
  }
}

}  // namespace cpu
}  // namespace fastprune
