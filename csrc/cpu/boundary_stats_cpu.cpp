// OpenMP driver for the CPU boundary_stats: picks the token kernel for this CPU, splits tokens into
// blocks across threads, and reduces the per-thread float64 sums into the packed output.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "../common/dtype.h"
#include "boundary_stats_kernel.h"

namespace fastprune {
namespace cpu {
namespace {

// Tokens per scheduling unit: large enough to amortise the per-block setup, small enough that short
// batches still spread over all threads.
constexpr int64_t kTokensPerBlock = 8;

struct Partials {
  int64_t upper;  // K*(K+1)/2
  int64_t per_thread;
  std::vector<double> data;

  Partials(int64_t k, int threads) : upper(k * (k + 1) / 2), per_thread(2 * upper + 2 * k), data() {
    data.assign(static_cast<size_t>(per_thread) * threads, 0.0);
  }

  TokenAccumulators for_thread(int thread, int64_t k) {
    double* base = data.data() + static_cast<int64_t>(thread) * per_thread;
    return {base, base + upper, base + 2 * upper, base + 2 * upper + k, base + 2 * upper + 2 * k - 1};
  }
};

void validate(const BoundaryStatsProblem& p) {
  if (p.k < 2) throw std::invalid_argument("boundary_stats: need K >= 2 boundaries, got " + std::to_string(p.k));
  if (p.n < 0 || p.d < 1) {
    throw std::invalid_argument("boundary_stats: need N >= 0 and D >= 1, got N=" + std::to_string(p.n) +
                                " D=" + std::to_string(p.d));
  }
  if (!dtype_is_valid(p.dtype)) {
    throw std::invalid_argument("boundary_stats: unsupported dtype code " + std::to_string(p.dtype));
  }
  if (p.n > 0 && (p.hidden == nullptr || p.weight == nullptr)) {
    throw std::invalid_argument("boundary_stats: null hidden or weight pointer");
  }
}

// Thread sums in thread order (deterministic for a given thread count), expanded to full symmetric
// K x K matrices.
void reduce_into(Partials& partials, int threads, int64_t k, double* out) {
  const BoundaryStatsLayout layout{k};
  std::vector<double> total(static_cast<size_t>(partials.per_thread), 0.0);
  for (int t = 0; t < threads; ++t) {
    const double* src = partials.data.data() + static_cast<int64_t>(t) * partials.per_thread;
    for (int64_t i = 0; i < partials.per_thread; ++i) total[i] += src[i];
  }
  const double* cos = total.data();
  const double* ang = cos + partials.upper;
  int64_t packed = 0;
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = i; j < k; ++j, ++packed) {
      out[layout.cos() + i * k + j] = out[layout.cos() + j * k + i] = cos[packed];
      out[layout.ang() + i * k + j] = out[layout.ang() + j * k + i] = ang[packed];
    }
  }
  const double* tail = ang + partials.upper;  // norm K | update K-1 | weight 1, same order as the layout
  for (int64_t i = 0; i < 2 * k; ++i) out[layout.norm() + i] = tail[i];
}

}  // namespace

void boundary_stats(const BoundaryStatsProblem& p, double* out, int num_threads) {
  validate(p);
  const int isa = selected_isa();
  const AccumulateTokensFn accumulate = isa_variant(FASTPRUNE_ISA_VARIANTS(accumulate_tokens), isa);
  const ScratchFloatsFn scratch_floats = isa_variant(FASTPRUNE_ISA_VARIANTS(scratch_floats), isa);
  const int64_t blocks = (p.n + kTokensPerBlock - 1) / kTokensPerBlock;
#if defined(_OPENMP)
  int threads = num_threads > 0 ? num_threads : omp_get_max_threads();
#else
  int threads = 1;
  (void)num_threads;
#endif
  if (threads > blocks) threads = blocks > 0 ? static_cast<int>(blocks) : 1;

  Partials partials(p.k, threads);
  // All scratch is allocated here, outside the parallel region, where an exception can still propagate.
  const int64_t scratch_stride = (scratch_floats(p.k, p.d) + 15) / 16 * 16;
  std::vector<float> scratch_storage(static_cast<size_t>(scratch_stride * threads + 16));
  float* scratch = scratch_storage.data();
  while (reinterpret_cast<uintptr_t>(scratch) % 64 != 0) ++scratch;

#if defined(_OPENMP)
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
  for (int64_t block = 0; block < blocks; ++block) {
#if defined(_OPENMP)
    const int thread = omp_get_thread_num();
#else
    const int thread = 0;
#endif
    const int64_t begin = block * kTokensPerBlock;
    const int64_t end = begin + kTokensPerBlock < p.n ? begin + kTokensPerBlock : p.n;
    accumulate(p, begin, end, partials.for_thread(thread, p.k), scratch + thread * scratch_stride);
  }
  reduce_into(partials, threads, p.k, out);
}

// ------------------------------------------------------------------------------------------ Python
namespace py = pybind11;

void bind_boundary_stats(py::module_& m) {
  m.def("boundary_stats_size", [](int64_t k) { return BoundaryStatsLayout{k}.size(); },
        py::arg("k"), "Length of the packed float64 output for K boundaries (2*K*K + 2*K).");
  m.def(
      "boundary_stats",
      [](uintptr_t hidden, uintptr_t weight, int64_t k, int64_t n, int64_t d, int64_t stride_k, int64_t stride_n,
         int dtype, uintptr_t out, int num_threads) {
        const BoundaryStatsProblem problem{reinterpret_cast<const void*>(hidden),
                                           reinterpret_cast<const float*>(weight),
                                           k,
                                           n,
                                           d,
                                           stride_k,
                                           stride_n,
                                           dtype};
        boundary_stats(problem, reinterpret_cast<double*>(out), num_threads);
      },
      py::arg("hidden"), py::arg("weight"), py::arg("k"), py::arg("n"), py::arg("d"), py::arg("stride_k"),
      py::arg("stride_n"), py::arg("dtype"), py::arg("out"), py::arg("num_threads") = 0,
      py::call_guard<py::gil_scoped_release>(),
      "Packed boundary statistics of hidden [K, N, D] (data pointer; D contiguous) weighted by weight [N]\n"
      "(float32 pointer, contiguous) into out (float64 pointer, 2*K*K + 2*K values).");
}

}  // namespace cpu
}  // namespace fastprune
