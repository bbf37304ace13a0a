// OpenMP driver for the CPU fused sampling: one row per unit.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "parallel_units.h"
#include "sampling_kernel.h"

namespace fastprune {
namespace cpu {
namespace {

SampleRowFn row_kernel() { return isa_variant(FASTPRUNE_ISA_VARIANTS(sample_row)); }

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

// ------------------------------------------------------------------------------------------ Python
namespace py = pybind11;

void bind_sampling(py::module_& m) {
  m.def(
      "sample",
      [](uintptr_t logits, int64_t row_stride, int64_t rows, int64_t vocab, uintptr_t temperature, uintptr_t top_k,
         uintptr_t top_p, uintptr_t uniform, uintptr_t out, uintptr_t kept, int num_threads) {
        const SampleProblem p{reinterpret_cast<const float*>(logits),
                              row_stride,
                              rows,
                              vocab,
                              reinterpret_cast<const float*>(temperature),
                              reinterpret_cast<const int64_t*>(top_k),
                              reinterpret_cast<const float*>(top_p),
                              reinterpret_cast<const float*>(uniform),
                              reinterpret_cast<int64_t*>(out),
                              reinterpret_cast<float*>(kept)};
        sample(p, num_threads);
      },
      py::arg("logits"), py::arg("row_stride"), py::arg("rows"), py::arg("vocab"), py::arg("temperature"),
      py::arg("top_k"), py::arg("top_p"), py::arg("uniform"), py::arg("out"), py::arg("kept"),
      py::arg("num_threads") = 0, py::call_guard<py::gil_scoped_release>(),
      "Fused sampling of float32 logits [rows, vocab] (semantics: fastprune.ops.sampling) into int64 out\n"
      "[rows]; temperature/top_p float32, top_k int64, uniform float32, one per row; kept (0 = none) gets the\n"
      "kept probabilities [rows, vocab].");
}

}  // namespace cpu
}  // namespace fastprune
