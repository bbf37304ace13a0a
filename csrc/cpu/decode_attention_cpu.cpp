// OpenMP driver for the CPU decode attention: one unit per (row, kv head), threads only for enough work.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "decode_attention_kernel.h"
#include "parallel_units.h"

namespace fastprune {
namespace cpu {
namespace {

// Below this many multiply-adds per step, threads cost more than they save.
constexpr int64_t kMinWorkForThreads = 1 << 16;

void validate(const DecodeAttentionProblem& p) {
  if (p.batch < 0 || p.heads < 1 || p.kv_heads < 1 || p.head_dim < 2 || p.head_dim % 2 != 0) {
    throw std::invalid_argument("decode_attention: need batch >= 0, heads and kv_heads >= 1 and an even head_dim");
  }
  if (p.heads % p.kv_heads != 0) {
    throw std::invalid_argument("decode_attention: heads (" + std::to_string(p.heads) +
                                ") must be a multiple of kv_heads (" + std::to_string(p.kv_heads) + ")");
  }
  for (int64_t r = 0; r < p.batch; ++r) {
    if (p.positions[r] < 0 || p.positions[r] >= p.cache_len) {
      throw std::invalid_argument("decode_attention: row " + std::to_string(r) + " position " +
                                  std::to_string(p.positions[r]) + " is outside the cache (length " +
                                  std::to_string(p.cache_len) + ")");
    }
  }
}

DecodeAttentionUnitFn unit_kernel() { return isa_variant(FASTPRUNE_ISA_VARIANTS(decode_attention_unit)); }

}  // namespace

void decode_attention(const DecodeAttentionProblem& p, int num_threads) {
  validate(p);
  const DecodeAttentionUnitFn kernel = unit_kernel();
  int64_t work = 0;
  for (int64_t r = 0; r < p.batch; ++r) work += (p.positions[r] + 1) * p.heads * p.head_dim * 2;
  const int threads = work < kMinWorkForThreads ? 1 : requested_threads(num_threads);
  for_each_unit(p.batch * p.kv_heads, threads, decode_attention_scratch_floats(p),
                [&](int64_t u, float* scratch) { kernel(p, u / p.kv_heads, u % p.kv_heads, scratch); });
}

// ------------------------------------------------------------------------------------------ Python
namespace py = pybind11;

namespace {

void decode_attention_binding(uintptr_t q, int64_t q_stride, uintptr_t k_new, int64_t k_stride, uintptr_t v_new,
                              int64_t v_stride, uintptr_t cos_table, uintptr_t sin_table, uintptr_t q_norm,
                              uintptr_t k_norm, double norm_eps, uintptr_t k_cache, uintptr_t v_cache,
                              int64_t cache_len, uintptr_t positions, int64_t batch, int64_t heads, int64_t kv_heads,
                              int64_t head_dim, int64_t window, double scale, uintptr_t out, int64_t out_stride,
                              int num_threads) {
  DecodeAttentionProblem p{};
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
  decode_attention(p, num_threads);
}

}  // namespace

void bind_decode_attention(py::module_& m) {
  m.def("decode_attention", &decode_attention_binding, py::arg("q"), py::arg("q_stride"), py::arg("k_new"),
        py::arg("k_stride"), py::arg("v_new"), py::arg("v_stride"), py::arg("cos_table"), py::arg("sin_table"),
        py::arg("q_norm"), py::arg("k_norm"), py::arg("norm_eps"), py::arg("k_cache"), py::arg("v_cache"),
        py::arg("cache_len"), py::arg("positions"), py::arg("batch"), py::arg("heads"), py::arg("kv_heads"),
        py::arg("head_dim"), py::arg("window"), py::arg("scale"), py::arg("out"), py::arg("out_stride"),
        py::arg("num_threads") = 0, py::call_guard<py::gil_scoped_release>(),
        "One float32 decode step of attention over a static KV cache (see decode_attention_kernel.h): rotary\n"
        "(and optional q/k RMSNorm) of the new q and k, k and v written at each row's position, attention\n"
        "over the row's visible keys into out. Pointers as integers, 0 for an absent norm; window <= 0: none.");
}

}  // namespace cpu
}  // namespace fastprune
