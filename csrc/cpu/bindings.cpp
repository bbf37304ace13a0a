// pybind11 module fastprune._native_cpu. Deliberately libtorch-free: tensors cross as data pointers
// (integers), shapes, element strides and a dtype code, so the module builds in seconds and works with
// any torch version. Python reaches it only through fastprune/ops/native.py.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "../common/boundary_stats_layout.h"
#include "boundary_stats_cpu.h"
#include "decode_attention_cpu.h"
#include "sampling_cpu.h"
#include "skinny_linear_cpu.h"

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <dlfcn.h>
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

// One product per entry of `outputs`: (w, w_up, w_stride, bias, bias_up, y, y_stride, n, accumulate),
// pointers as integers with 0 for absent.
using SkinnyOutput =
    std::tuple<uintptr_t, uintptr_t, int64_t, uintptr_t, uintptr_t, uintptr_t, int64_t, int64_t, bool>;

void skinny_linear(uintptr_t x, int64_t x_stride, int64_t m, int64_t k, uintptr_t norm_weight, double eps,
                   const std::vector<SkinnyOutput>& outputs, int num_threads) {
  const fastprune::cpu::SkinnyInput input{reinterpret_cast<const float*>(x), x_stride, m, k,
                                          reinterpret_cast<const float*>(norm_weight), static_cast<float>(eps)};
  std::vector<fastprune::cpu::SkinnyLinearProblem> problems;
  problems.reserve(outputs.size());
  for (const SkinnyOutput& o : outputs) {
    fastprune::cpu::SkinnyLinearProblem p{};
    p.w = reinterpret_cast<const float*>(std::get<0>(o));
    p.w_up = reinterpret_cast<const float*>(std::get<1>(o));
    p.w_stride = std::get<2>(o);
    p.bias = reinterpret_cast<const float*>(std::get<3>(o));
    p.bias_up = reinterpret_cast<const float*>(std::get<4>(o));
    p.y = reinterpret_cast<float*>(std::get<5>(o));
    p.y_stride = std::get<6>(o);
    p.n = std::get<7>(o);
    p.accumulate = std::get<8>(o) ? 1 : 0;
    problems.push_back(p);
  }
  fastprune::cpu::skinny_linear(input, problems.data(), static_cast<int>(problems.size()), num_threads);
}

void decode_attention(uintptr_t q, int64_t q_stride, uintptr_t k_new, int64_t k_stride, uintptr_t v_new,
                      int64_t v_stride, uintptr_t cos_table, uintptr_t sin_table, uintptr_t q_norm, uintptr_t k_norm,
                      double norm_eps, uintptr_t k_cache, uintptr_t v_cache, int64_t cache_len, uintptr_t positions,
                      int64_t batch, int64_t heads, int64_t kv_heads, int64_t head_dim, int64_t window, double scale,
                      uintptr_t out, int64_t out_stride, int num_threads) {
  fastprune::cpu::DecodeAttentionProblem p{};
  p.q = reinterpret_cast<const float*>(q);
  p.q_stride = q_stride;
  p.k_new = reinterpret_cast<const float*>(k_new);
  p.k_stride = k_stride;
  p.v_new = reinterpret_cast<const float*>(v_new);
  p.v_stride = v_stride;
  p.cos_table = reinterpret_cast<const float*>(cos_table);
  p.sin_table = reinterpret_cast<const float*>(sin_table);
  p.q_norm = reinterpret_cast<const float*>(q_norm);
  p.k_norm = reinterpret_cast<const float*>(k_norm);
  p.norm_eps = static_cast<float>(norm_eps);
  p.k_cache = reinterpret_cast<float*>(k_cache);
  p.v_cache = reinterpret_cast<float*>(v_cache);
  p.cache_len = cache_len;
  p.positions = reinterpret_cast<const int64_t*>(positions);
  p.batch = batch;
  p.heads = heads;
  p.kv_heads = kv_heads;
  p.head_dim = head_dim;
  p.window = window;
  p.scale = static_cast<float>(scale);
  p.out = reinterpret_cast<float*>(out);
  p.out_stride = out_stride;
  fastprune::cpu::decode_attention(p, num_threads);
}

void sample(uintptr_t logits, int64_t row_stride, int64_t rows, int64_t vocab, uintptr_t temperature,
            uintptr_t top_k, uintptr_t top_p, uintptr_t uniform, uintptr_t out, uintptr_t kept, int num_threads) {
  const fastprune::cpu::SampleProblem p{reinterpret_cast<const float*>(logits),
                                        row_stride,
                                        rows,
                                        vocab,
                                        reinterpret_cast<const float*>(temperature),
                                        reinterpret_cast<const int64_t*>(top_k),
                                        reinterpret_cast<const float*>(top_p),
                                        reinterpret_cast<const float*>(uniform),
                                        reinterpret_cast<int64_t*>(out),
                                        reinterpret_cast<float*>(kept)};
  fastprune::cpu::sample(p, num_threads);
}

}  // namespace

PYBIND11_MODULE(_native_cpu, m) {
  m.doc() = "fastprune CPU kernels (OpenMP, runtime ISA dispatch); called through fastprune.ops";
  m.def("build_info", &build_info, "Compiler, OpenMP and instruction-set facts about this build.");
  m.def("set_num_threads", &set_num_threads, py::arg("n"),
        "omp_set_num_threads(n) for the calling thread: the default of calls given num_threads=0.");
  m.def("num_threads", &num_threads, "omp_get_max_threads() of the calling thread (1 without OpenMP).");
  m.def("openmp_runtime", &openmp_runtime, "Path of the OpenMP runtime library the kernels use, or None.");
  m.def("boundary_stats_size", [](int64_t k) { return fastprune::BoundaryStatsLayout{k}.size(); },
        py::arg("k"), "Length of the packed float64 output for K boundaries (2*K*K + 2*K).");
  m.def("boundary_stats", &boundary_stats, py::arg("hidden"), py::arg("weight"), py::arg("k"), py::arg("n"),
        py::arg("d"), py::arg("stride_k"), py::arg("stride_n"), py::arg("dtype"), py::arg("out"),
        py::arg("num_threads") = 0, py::call_guard<py::gil_scoped_release>(),
        "Packed boundary statistics of hidden [K, N, D] (data pointer; D contiguous) weighted by weight [N]\n"
        "(float32 pointer, contiguous) into out (float64 pointer, 2*K*K + 2*K values).");
  m.def("skinny_linear", &skinny_linear, py::arg("x"), py::arg("x_stride"), py::arg("m"), py::arg("k"),
        py::arg("norm_weight"), py::arg("eps"), py::arg("outputs"), py::arg("num_threads") = 0,
        py::call_guard<py::gil_scoped_release>(),
        "float32 products of x [m, k] (data pointer, row stride; unit stride along k), or of RMSNorm(x) when\n"
        "norm_weight is set: for each output (w, w_up, w_stride, bias, bias_up, y, y_stride, n, accumulate), y[m, n] =\n"
        "x @ w^T + bias, or silu(x @ w^T + bias) * (x @ w_up^T + bias_up) when w_up is set (0 = absent);\n"
        "with accumulate, y += that instead.");
  m.def("decode_attention", &decode_attention, py::arg("q"), py::arg("q_stride"), py::arg("k_new"),
        py::arg("k_stride"), py::arg("v_new"), py::arg("v_stride"), py::arg("cos_table"), py::arg("sin_table"),
        py::arg("q_norm"), py::arg("k_norm"), py::arg("norm_eps"), py::arg("k_cache"), py::arg("v_cache"),
        py::arg("cache_len"), py::arg("positions"), py::arg("batch"), py::arg("heads"), py::arg("kv_heads"),
        py::arg("head_dim"), py::arg("window"), py::arg("scale"), py::arg("out"), py::arg("out_stride"),
        py::arg("num_threads") = 0, py::call_guard<py::gil_scoped_release>(),
        "One float32 decode step of attention over a static KV cache (see decode_attention_cpu.h): rotary\n"
        "(and optional q/k RMSNorm) of the new q and k, k and v written at each row's position, attention\n"
        "over the row's visible keys into out. Pointers as integers, 0 for an absent norm; window <= 0: none.");
  m.def("sample", &sample, py::arg("logits"), py::arg("row_stride"), py::arg("rows"), py::arg("vocab"),
        py::arg("temperature"), py::arg("top_k"), py::arg("top_p"), py::arg("uniform"), py::arg("out"),
        py::arg("kept"), py::arg("num_threads") = 0, py::call_guard<py::gil_scoped_release>(),
        "Fused sampling of float32 logits [rows, vocab] (semantics: fastprune.ops.sampling) into int64 out\n"
        "[rows]; temperature/top_p float32, top_k int64, uniform float32, one per row; kept (0 = none) gets the\n"
        "kept probabilities [rows, vocab].");
}
