// OpenMP driver for the CPU skinny linear: RMSNorm once, then every problem's row blocks over the threads.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "parallel_units.h"
#include "skinny_linear_kernel.h"

namespace fastprune {
namespace cpu {
namespace {

// Below this many weight bytes per thread, waking another thread costs more than it saves.
constexpr int64_t kMinBytesPerThread = 64 * 1024;

using RowsKernelFn = SkinnyLinearRowsFn;

RowsKernelFn rows_kernel() { return isa_variant(FASTPRUNE_ISA_VARIANTS(skinny_linear_rows)); }

void validate(const SkinnyInput& in, const SkinnyLinearProblem& p) {
  if (in.m < 0 || p.n < 0 || in.k < 0) {
    throw std::invalid_argument("skinny_linear: negative shape m=" + std::to_string(in.m) +
                                " n=" + std::to_string(p.n) + " k=" + std::to_string(in.k));
  }
  if (in.m > 0 && p.n > 0 && (p.y == nullptr || (in.k > 0 && (in.x == nullptr || p.w == nullptr)))) {
    throw std::invalid_argument("skinny_linear: null x, w or y pointer");
  }
  if (in.x_stride < in.k || p.w_stride < in.k || p.y_stride < p.n) {
    throw std::invalid_argument("skinny_linear: a row stride is shorter than its row");
  }
}

// RMSNorm in HF's order: x * rsqrt(mean(x^2) + eps), then times the weight; float32 throughout.
void rms_norm_rows(const SkinnyInput& in, float* out) {
  for (int64_t i = 0; i < in.m; ++i) {
    const float* x = in.x + i * in.x_stride;
    float* y = out + i * in.k;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t t = 0; t < in.k; ++t) sum += x[t] * x[t];
    const float scale = 1.0f / std::sqrt(sum / static_cast<float>(in.k) + in.eps);
#pragma omp simd
    for (int64_t t = 0; t < in.k; ++t) y[t] = in.norm_weight[t] * (x[t] * scale);
  }
}

}  // namespace

void skinny_linear(const SkinnyInput& input, SkinnyLinearProblem* problems, int count, int num_threads) {
  if (count < 0) throw std::invalid_argument("skinny_linear: negative problem count");
  for (int i = 0; i < count; ++i) validate(input, problems[i]);
  if (input.m == 0) return;
  std::vector<float> normed;
  const float* x = input.x;
  int64_t x_stride = input.x_stride;
  if (input.norm_weight != nullptr && input.k > 0) {
    normed.resize(static_cast<size_t>(input.m * input.k));
    rms_norm_rows(input, normed.data());
    x = normed.data();
    x_stride = input.k;
  }
  // Blocks of all problems in one list: block b of problem i covers rows [first[i] + b) * kSkinnyRowBlock.
  std::vector<int64_t> first(static_cast<size_t>(count) + 1, 0);
  int64_t weight_bytes = 0;
  for (int i = 0; i < count; ++i) {
    SkinnyLinearProblem& p = problems[i];
    p.x = x;
    p.x_stride = x_stride;
    p.m = input.m;
    p.k = input.k;
    first[i + 1] = first[i] + (p.n + kSkinnyRowBlock - 1) / kSkinnyRowBlock;
    weight_bytes += p.n * p.k * static_cast<int64_t>(sizeof(float)) * (p.w_up != nullptr ? 2 : 1);
  }
  const int64_t blocks = first[count];
  if (blocks == 0) return;
  const RowsKernelFn kernel = rows_kernel();
  // Blocks [begin, end) of the combined list, as one contiguous row range per problem touched.
  auto run_blocks = [&](int64_t begin, int64_t end) {
    for (int i = 0; i < count && begin < end; ++i) {
      if (begin >= first[i + 1]) continue;
      const int64_t stop = end < first[i + 1] ? end : first[i + 1];
      const SkinnyLinearProblem& p = problems[i];
      const int64_t n_end = (stop - first[i]) * kSkinnyRowBlock < p.n ? (stop - first[i]) * kSkinnyRowBlock : p.n;
      kernel(p, (begin - first[i]) * kSkinnyRowBlock, n_end);
      begin = stop;
    }
  };
#if defined(_OPENMP)
  int threads = requested_threads(num_threads);
  const int64_t useful = weight_bytes / kMinBytesPerThread > 0 ? weight_bytes / kMinBytesPerThread : 1;
  if (threads > useful) threads = static_cast<int>(useful);
  if (threads > blocks) threads = static_cast<int>(blocks);
  if (threads > 1) {
    // Contiguous ranges of whole blocks: each thread streams one region of the weights.
#pragma omp parallel num_threads(threads)
    {
      const int64_t t = omp_get_thread_num();
      const int64_t nt = omp_get_num_threads();
      run_blocks(blocks * t / nt, blocks * (t + 1) / nt);
    }
    return;
  }
#else
  (void)num_threads;
#endif
  run_blocks(0, blocks);
}

// ------------------------------------------------------------------------------------------ Python
namespace py = pybind11;

namespace {

// One product per entry of `outputs`: (w, w_up, w_stride, bias, bias_up, y, y_stride, n, accumulate),
// pointers as integers with 0 for absent.
using SkinnyOutput =
    std::tuple<uintptr_t, uintptr_t, int64_t, uintptr_t, uintptr_t, uintptr_t, int64_t, int64_t, bool>;

void skinny_linear_binding(uintptr_t x, int64_t x_stride, int64_t m, int64_t k, uintptr_t norm_weight, double eps,
                           const std::vector<SkinnyOutput>& outputs, int num_threads) {
  const SkinnyInput input{reinterpret_cast<const float*>(x), x_stride, m, k,
                          reinterpret_cast<const float*>(norm_weight), static_cast<float>(eps)};
  std::vector<SkinnyLinearProblem> problems;
  problems.reserve(outputs.size());
  for (const SkinnyOutput& o : outputs) {
    SkinnyLinearProblem p{};
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
  skinny_linear(input, problems.data(), static_cast<int>(problems.size()), num_threads);
}

}  // namespace

void bind_skinny_linear(py::module_& m) {
  m.def("skinny_linear", &skinny_linear_binding, py::arg("x"), py::arg("x_stride"), py::arg("m"), py::arg("k"),
        py::arg("norm_weight"), py::arg("eps"), py::arg("outputs"), py::arg("num_threads") = 0,
        py::call_guard<py::gil_scoped_release>(),
        "float32 products of x [m, k] (data pointer, row stride; unit stride along k), or of RMSNorm(x) when\n"
        "norm_weight is set: for each output (w, w_up, w_stride, bias, bias_up, y, y_stride, n, accumulate), y[m, n] =\n"
        "x @ w^T + bias, or silu(x @ w^T + bias) * (x @ w_up^T + bias_up) when w_up is set (0 = absent);\n"
        "with accumulate, y += that instead.");
}

}  // namespace cpu
}  // namespace fastprune
