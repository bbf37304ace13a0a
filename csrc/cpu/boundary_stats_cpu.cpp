// OpenMP driver for the CPU boundary_stats: picks the token kernel for this CPU, splits tokens into
// blocks across threads, and reduces the per-thread float64 sums into the packed output.
#include "boundary_stats_cpu.h"

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "../common/dtype.h"

namespace fastprune {
namespace cpu {
namespace {

// Tokens per scheduling unit: large enough to amortise the per-block setup, small enough that short
// batches still spread over all threads.
constexpr int64_t kTokensPerBlock = 8;

const std::vector<TokenKernel>& compiled_kernels() {
  static const std::vector<TokenKernel> kernels = {
      {"baseline", &baseline::accumulate_tokens, &baseline::scratch_floats},
#if defined(FASTPRUNE_HAVE_X86_64_V3)
      {"x86-64-v3", &x86_64_v3::accumulate_tokens, &x86_64_v3::scratch_floats},
#endif
#if defined(FASTPRUNE_HAVE_X86_64_V4)
      {"x86-64-v4", &x86_64_v4::accumulate_tokens, &x86_64_v4::scratch_floats},
#endif
  };
  return kernels;
}

bool cpu_supports(const std::string& isa) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  if (isa == "x86-64-v3") {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c") &&
           __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
  }
  if (isa == "x86-64-v4") {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
#endif
  return isa == "baseline";
}

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

std::vector<std::string> compiled_isas() {
  std::vector<std::string> names;
  for (const TokenKernel& kernel : compiled_kernels()) names.emplace_back(kernel.isa);
  return names;
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> names;
  for (const TokenKernel& kernel : compiled_kernels()) {
    if (cpu_supports(kernel.isa)) names.emplace_back(kernel.isa);
  }
  return names;
}

const TokenKernel& select_token_kernel() {
  const char* forced = std::getenv("FASTPRUNE_CPU_ISA");
  const std::vector<TokenKernel>& kernels = compiled_kernels();
  if (forced != nullptr && *forced != '\0') {
    for (const TokenKernel& kernel : kernels) {
      if (forced == std::string(kernel.isa)) {
        if (!cpu_supports(kernel.isa)) {
          throw std::runtime_error(std::string("FASTPRUNE_CPU_ISA=") + forced + ": this CPU cannot run it");
        }
        return kernel;
      }
    }
    throw std::runtime_error(std::string("FASTPRUNE_CPU_ISA=") + forced + ": not compiled into this module");
  }
  const TokenKernel* best = &kernels.front();
  for (const TokenKernel& kernel : kernels) {
    if (cpu_supports(kernel.isa)) best = &kernel;
  }
  return *best;
}

void boundary_stats(const BoundaryStatsProblem& p, double* out, int num_threads) {
  validate(p);
  const TokenKernel& kernel = select_token_kernel();
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
  const int64_t scratch_stride = (kernel.scratch_floats(p.k, p.d) + 15) / 16 * 16;
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
    kernel.accumulate(p, begin, end, partials.for_thread(thread, p.k), scratch + thread * scratch_stride);
  }
  reduce_into(partials, threads, p.k, out);
}

}  // namespace cpu
}  // namespace fastprune
