// pybind11 module fastprune._native_cuda. libtorch-free like _native_cpu: device pointers and the CUDA
// stream cross as integers. cudart is linked statically and nothing here touches the driver at import,
// so `import fastprune._native_cuda` succeeds on machines without a GPU; only a launch can fail.
#include <cuda_runtime.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>

#include "../common/boundary_stats_layout.h"
#include "boundary_stats_cuda.h"

namespace py = pybind11;

namespace {

std::string host_compiler() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return "gcc " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + "." +
         std::to_string(__GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}

py::list split_archs(const std::string& archs) {
  py::list out;
  size_t start = 0;
  while (start <= archs.size()) {
    const size_t end = archs.find(',', start);
    const std::string item = archs.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!item.empty()) out.append(item);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

py::dict build_info() {
  py::dict info;
  info["compiler"] = std::string("nvcc ") + FASTPRUNE_NVCC_VERSION;
  info["host_compiler"] = host_compiler();
  info["archs"] = split_archs(FASTPRUNE_CUDA_ARCHS);
  info["cudart"] = "static " + std::to_string(CUDART_VERSION / 1000) + "." + std::to_string(CUDART_VERSION % 1000 / 10);
  info["max_boundaries"] = fastprune::cuda::kMaxBoundaries;
  return info;
}

// Driver facts; safe without a GPU (cudaDriverGetVersion reports 0 when no driver is installed).
py::dict runtime_info() {
  py::dict info;
  int driver = 0;
  const cudaError_t err = cudaDriverGetVersion(&driver);
  info["driver_version"] = driver;
  info["error"] = err == cudaSuccess ? py::object(py::none()) : py::object(py::str(cudaGetErrorString(err)));
  return info;
}

void boundary_stats(uintptr_t hidden, uintptr_t weight, int64_t k, int64_t n, int64_t d, int64_t stride_k,
                    int64_t stride_n, int dtype, uintptr_t out, uintptr_t workspace, int64_t grid,
                    uintptr_t stream) {
  const fastprune::BoundaryStatsProblem problem{reinterpret_cast<const void*>(hidden),
                                                reinterpret_cast<const float*>(weight),
                                                k,
                                                n,
                                                d,
                                                stride_k,
                                                stride_n,
                                                dtype};
  fastprune::cuda::boundary_stats(problem, reinterpret_cast<double*>(out), reinterpret_cast<float*>(workspace),
                                  grid, stream);
}

}  // namespace

PYBIND11_MODULE(_native_cuda, m) {
  m.doc() = "fastprune CUDA kernels; called through fastprune.ops";
  m.def("build_info", &build_info, "nvcc version, CUDA archs compiled for, cudart linkage.");
  m.def("runtime_info", &runtime_info, "CUDA driver version seen by the static runtime (0: no driver).");
  m.def("boundary_stats_size", [](int64_t k) { return fastprune::BoundaryStatsLayout{k}.size(); }, py::arg("k"),
        "Length of the packed float64 output for K boundaries (2*K*K + 2*K).");
  m.def("boundary_stats_grid", &fastprune::cuda::grid_size, py::arg("k"), py::arg("n"), py::arg("sm_count"),
        "Number of blocks (= partial rows) to launch for K boundaries and N tokens.");
  m.def("boundary_stats_workspace_floats", &fastprune::cuda::workspace_floats, py::arg("k"), py::arg("grid"),
        "float32 workspace elements boundary_stats needs for this K and grid.");
  m.def("boundary_stats", &boundary_stats, py::arg("hidden"), py::arg("weight"), py::arg("k"), py::arg("n"),
        py::arg("d"), py::arg("stride_k"), py::arg("stride_n"), py::arg("dtype"), py::arg("out"),
        py::arg("workspace"), py::arg("grid"), py::arg("stream"), py::call_guard<py::gil_scoped_release>(),
        "Enqueue boundary_stats of hidden [K, N, D] (device pointer; D contiguous) weighted by weight [N]\n"
        "(float32, contiguous) into out (float64, 2*K*K + 2*K values) on `stream` (cudaStream_t as int).");
}
