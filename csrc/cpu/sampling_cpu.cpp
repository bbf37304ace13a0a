#include "sampling_cpu.h"

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "boundary_stats_cpu.h"

namespace fastprune {
namespace cpu {
namespace {

SampleRowFn row_kernel() {
  const char* isa = select_token_kernel().isa;
#if defined(FASTPRUNE_HAVE_X86_64_V4)
  if (std::strcmp(isa, "x86-64-v4") == 0) return &x86_64_v4::sample_row;
#endif
#if defined(FASTPRUNE_HAVE_X86_64_V3)
  if (std::strcmp(isa, "x86-64-v3") == 0) return &x86_64_v3::sample_row;
#endif
  return &baseline::sample_row;
}

}  // namespace

void sample(const SampleProblem& p, int num_threads) {
  if (p.rows < 0 || p.vocab < 1) {
    throw std::invalid_argument("sample: need rows >= 0 and vocab >= 1, got rows=" + std::to_string(p.rows) +
                                " vocab=" + std::to_string(p.vocab));
  }
  if (p.rows > 0 && (p.logits == nullptr || p.out == nullptr || p.temperature == nullptr ||
                     p.top_k == nullptr || p.top_p == nullptr || p.uniform == nullptr)) {
    throw std::invalid_argument("sample: null pointer");
  }
  if (p.row_stride < 0) throw std::invalid_argument("sample: negative row stride");
  if (p.rows == 0) return;
  const SampleRowFn kernel = row_kernel();
  const int64_t scratch = (sample_scratch_floats(p.vocab) + 15) / 16 * 16;
#if defined(_OPENMP)
  int threads = num_threads > 0 ? num_threads : omp_get_max_threads();
  if (threads > p.rows) threads = static_cast<int>(p.rows);
#else
  const int threads = 1;
  (void)num_threads;
#endif
  std::vector<float> buffer(static_cast<size_t>(scratch * threads));
#if defined(_OPENMP)
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
#endif
  for (int64_t r = 0; r < p.rows; ++r) {
#if defined(_OPENMP)
    float* mine = buffer.data() + omp_get_thread_num() * scratch;
#else
    float* mine = buffer.data();
#endif
    kernel(p, r, mine);
  }
}

}  // namespace cpu
}  // namespace fastprune
