// pybind11 module fastprune._native_cpu: build facts and the thread pool here, then every kernel of
// kernel_list.h binds its own functions (bind_<name>, in <name>_cpu.cpp). Deliberately libtorch-free:
// tensors cross as data pointers (integers), shapes, element strides and a dtype code, so the module builds
// in seconds and works with any torch version. fastprune.ops (fastprune/ops/native.py loads it) is the only
// caller.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <exception>
#include <string>
#include <vector>

#include "isa.h"

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <dlfcn.h>
#endif

namespace py = pybind11;

namespace fastprune {
namespace cpu {
#define FASTPRUNE_CPU_KERNEL(name) void bind_##name(py::module_& m);
#include "kernel_list.h"
#undef FASTPRUNE_CPU_KERNEL
}  // namespace cpu
}  // namespace fastprune

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
  std::vector<std::string> compiled, supported;
  for (int isa = 0; isa < fastprune::cpu::isa_count(); ++isa) {
    compiled.emplace_back(fastprune::cpu::isa_name(isa));
    if (fastprune::cpu::isa_supported(isa)) supported.emplace_back(fastprune::cpu::isa_name(isa));
  }
  info["isas_compiled"] = compiled;
  info["isas_supported"] = supported;
  try {
    info["isa_selected"] = fastprune::cpu::isa_name(fastprune::cpu::selected_isa());
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

// The calling thread's OpenMP thread count. fastprune.threads sets it next to torch's so the pool is
// right even where the native module's OpenMP runtime is not torch's (a clang build with libomp).
void set_num_threads(int n) {
  if (n < 1) throw py::value_error("num_threads must be >= 1, got " + std::to_string(n));
#if defined(_OPENMP)
  omp_set_num_threads(n);
#endif
}

int num_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// File of the OpenMP runtime this module's calls resolve to (None without OpenMP or dladdr): with torch
// loaded first it is torch's bundled libgomp, i.e. both share one pool.
py::object openmp_runtime() {
#if defined(_OPENMP) && (defined(__unix__) || defined(__APPLE__))
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&omp_get_max_threads), &info) != 0 && info.dli_fname != nullptr) {
    return py::str(info.dli_fname);
  }
#endif
  return py::none();
}

}  // namespace

PYBIND11_MODULE(_native_cpu, m) {
  m.doc() = "fastprune CPU kernels (OpenMP, runtime ISA dispatch); called through fastprune.ops";
  m.def("build_info", &build_info, "Compiler, OpenMP and instruction-set facts about this build.");
  m.def("set_num_threads", &set_num_threads, py::arg("n"),
        "omp_set_num_threads(n) for the calling thread: the default of calls given num_threads=0.");
  m.def("num_threads", &num_threads, "omp_get_max_threads() of the calling thread (1 without OpenMP).");
  m.def("openmp_runtime", &openmp_runtime, "Path of the OpenMP runtime library the kernels use, or None.");
#define FASTPRUNE_CPU_KERNEL(name) fastprune::cpu::bind_##name(m);
#include "kernel_list.h"
#undef FASTPRUNE_CPU_KERNEL
}
