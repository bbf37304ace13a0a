// pybind11 module fastprune._native_cpu. Deliberately libtorch-free: tensors cross as data pointers
// (integers), shapes, element strides and a dtype code, so the module builds in seconds and works with
// any torch version. fastprune/ops/_native.py is the only caller.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>

#include "../common/boundary_stats_layout.h"
#include "boundary_stats_cpu.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace py = pybind11;

namespace {

std::string compiler_id() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return "gcc " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + "." +
         std::to_string(__GNUC_PATCHLEVEL__);
#elif defined(_MSC_VER)
  return "msvc " + std::to_string(_MSC_VER);
#else
  return "unknown";
#endif
}

py::dict build_info() {
  py::dict info;
  info["compiler"] = compiler_id();
#if defined(_OPENMP)
  info["openmp"] = true;
  info["openmp_version"] = static_cast<int>(_OPENMP);
  info["max_threads"] = omp_get_max_threads();
#else
  info["openmp"] = false;
  info["openmp_version"] = py::none();
  info["max_threads"] = 1;
#endif
  info["isas_compiled"] = fastprune::cpu::compiled_isas();
  info["isas_supported"] = fastprune::cpu::supported_isas();
  try {
    info["isa_selected"] = fastprune::cpu::select_token_kernel().isa;
  } catch (const std::exception& err) {
    info["isa_selected"] = py::none();
    info["isa_error"] = err.what();
  }
#if defined(FASTPRUNE_MARCH_NATIVE)
  info["march_native"] = true;
#else
  info["march_native"] = false;
#endif
  return info;
}

void boundary_stats(uintptr_t hidden, uintptr_t weight, int64_t k, int64_t n, int64_t d, int64_t stride_k,
                    int64_t stride_n, int dtype, uintptr_t out, int num_threads) {
  const fastprune::BoundaryStatsProblem problem{reinterpret_cast<const void*>(hidden),
                                                reinterpret_cast<const float*>(weight),
                                                k,
                                                n,
                                                d,
                                                stride_k,
                                                stride_n,
                                                dtype};
  fastprune::cpu::boundary_stats(problem, reinterpret_cast<double*>(out), num_threads);
}

}  // namespace

PYBIND11_MODULE(_native_cpu, m) {
  m.doc() = "fastprune CPU kernels (OpenMP, runtime ISA dispatch); called through fastprune.ops";
  m.def("build_info", &build_info, "Compiler, OpenMP and instruction-set facts about this build.");
  m.def("boundary_stats_size", [](int64_t k) { return fastprune::BoundaryStatsLayout{k}.size(); },
        py::arg("k"), "Length of the packed float64 output for K boundaries (2*K*K + 2*K).");
  m.def("boundary_stats", &boundary_stats, py::arg("hidden"), py::arg("weight"), py::arg("k"), py::arg("n"),
        py::arg("d"), py::arg("stride_k"), py::arg("stride_n"), py::arg("dtype"), py::arg("out"),
        py::arg("num_threads") = 0, py::call_guard<py::gil_scoped_release>(),
        "Packed boundary statistics of hidden [K, N, D] (data pointer; D contiguous) weighted by weight [N]\n"
        "(float32 pointer, contiguous) into out (float64 pointer, 2*K*K + 2*K values).");
}
