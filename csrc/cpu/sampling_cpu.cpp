#include "sampling_cpu.h"

#include <stdexcept>
#include <string>

#include "isa_select.h"
#include "parallel_units.h"

namespace fastprune {
namespace cpu {
namespace {

SampleRowFn row_kernel() {
  return isa_variant<SampleRowFn>(&baseline::sample_row, FASTPRUNE_IF_V3(x86_64_v3::sample_row),
                                 FASTPRUNE_IF_V4(x86_64_v4::sample_row));
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
  const SampleRowFn kernel = row_kernel();
  for_each_unit(p.rows, requested_threads(num_threads), sample_scratch_floats(p.vocab),
                [&](int64_t r, float* scratch) { kernel(p, r, scratch); });
}

}  // namespace cpu
}  // namespace fastprune
