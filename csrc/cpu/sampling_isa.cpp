// One row of fused sampling for one instruction set (semantics: fastprune/ops/sampling.py).
//
// Compiled once per ISA (isa_target.h: FP_ISA_NS and FP_LANES). Per row:
//   1. max and first argmax of the logits (the greedy answer);
//   2. e = exp(x / T - max / T) with a vectorised exp, kept unnormalised (every threshold below is a
//      ratio or a comparison, so the softmax's division only matters for the reported probabilities);
//   3. top-k threshold: the k-th largest e found exactly by a three-level radix select on the float bits
//      (for non-negative floats integer order is value order): 10 + 10 + 10 bits, one counting pass each;
//   4. top-p threshold: the same radix walk over mass instead of counts, finding the value at which the
//      highest-first running mass first reaches top_p of the mass kept by top-k;
//   5. inverse CDF in vocabulary order over the kept e with the row's uniform.
// No sort of the vocabulary, no allocation: a few streaming passes over the row.
#include "isa_target.h"

#include "sampling_kernel.h"
#include "vector_math.inl"

namespace fastprune {
namespace cpu {
namespace FP_ISA_NS {
namespace {

constexpr int kSmBuckets = 1024;  // 10 bits per radix level

static inline uint32_t sm_bits(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, sizeof u);
  return u;
}
static inline float sm_float(uint32_t u) {
  float f;
  __builtin_memcpy(&f, &u, sizeof f);
  return f;
}

// The bit pattern of the value found by walking levels (30..20, 20..10, 10..0 bits) from the largest
// values down, accumulating `weight` (count or mass) until the running total reaches `goal`. Values below
// `floor_bits` are ignored. Returns 0xFFFFFFFF when the total never reaches the goal.
template <bool ByMass>
static uint32_t sm_radix_walk(const float* e, int64_t n, uint32_t floor_bits, double goal) {
  double acc_before = 0.0;
  uint32_t prefix = 0;
  for (int level = 0; level < 3; ++level) {
    const int shift = 20 - 10 * level;
    const uint32_t prefix_mask = level == 0 ? 0u : ~((1u << (shift + 10)) - 1u);
    double hist[kSmBuckets];
    for (int b = 0; b < kSmBuckets; ++b) hist[b] = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t u = sm_bits(e[i]);
      if (u < floor_bits || (u & prefix_mask) != prefix) continue;
      uint32_t b = (u >> shift) & (kSmBuckets - 1);
      if (level == 0 && (u >> shift) >= kSmBuckets) b = kSmBuckets - 1;  // only NaN patterns; keep in range
      hist[b] += ByMass ? static_cast<double>(e[i]) : 1.0;
    }
    int b = kSmBuckets - 1;
    for (; b >= 0; --b) {
      if (acc_before + hist[b] >= goal) break;
      acc_before += hist[b];
    }
    if (b < 0) return 0xFFFFFFFFu;
    prefix |= static_cast<uint32_t>(b) << shift;
  }
  return prefix;
}

}  // namespace

void sample_row(const SampleProblem& p, int64_t row, float* e) {
  const float* x = p.logits + row * p.row_stride;
  const int64_t v = p.vocab;
  float* kept = p.kept != nullptr ? p.kept + row * v : nullptr;

  // 1. max (NaN logits never compare greater, so they are ignored) and its first index.
  float best = -__builtin_inff();
  for (int64_t i = 0; i < v; ++i) best = x[i] > best ? x[i] : best;
  int64_t argmax = 0;
  while (argmax < v - 1 && !(x[argmax] == best)) ++argmax;
  const float temperature = p.temperature[row];
  if (!(temperature > 0.0f)) {
    p.out[row] = argmax;
    if (kept != nullptr) {
      for (int64_t i = 0; i < v; ++i) kept[i] = i == argmax ? 1.0f : 0.0f;
    }
    return;
  }

  // 2. Unnormalised probabilities. x / T rounds like the reference's logits / T; max(x)/T == max(x/T).
  const float scaled_max = best / temperature;
  const VmVec t = vm_splat(temperature);
  const VmVec m = vm_splat(scaled_max);
  VmVec total_v{};
  int64_t i = 0;
  for (; i + kVmLanes <= v; i += kVmLanes) {
    const VmVec ev = vm_exp_nonpositive(vm_load(x + i) / t - m);
    vm_store(e + i, ev);
    total_v += ev;
  }
  float z = vm_lane_sum(total_v);
  if (i < v) {
    float tail_x[kVmLanes];
    for (int j = 0; j < kVmLanes; ++j) tail_x[j] = i + j < v ? x[i + j] / temperature - scaled_max : -__builtin_inff();
    float tail_e[kVmLanes];
    vm_store(tail_e, vm_exp_nonpositive(vm_load(tail_x)));
    for (int64_t j = 0; i + j < v; ++j) {
      e[i + j] = tail_e[j];
      z += tail_e[j];
    }
  }

  // 3. top-k: the k-th largest value (ties at the boundary are all kept by the >= comparisons below).
  const int64_t k = p.top_k[row];
  uint32_t threshold = 0;
  if (k > 0 && k < v) threshold = sm_radix_walk<false>(e, v, 0, static_cast<double>(k));

  // 4. top-p over the mass top-k left.
  const float top_p = p.top_p[row];
  if (top_p < 1.0f) {
    float kept_mass = 0.0f;
    for (int64_t j = 0; j < v; ++j) kept_mass += sm_bits(e[j]) >= threshold ? e[j] : 0.0f;
    const uint32_t found = sm_radix_walk<true>(e, v, threshold, static_cast<double>(top_p) * kept_mass);
    if (found != 0xFFFFFFFFu && found > threshold) threshold = found;
  }

  // 5. Inverse CDF in vocabulary order over the kept values.
  float mass = 0.0f;
  for (int64_t j = 0; j < v; ++j) mass += sm_bits(e[j]) >= threshold ? e[j] : 0.0f;
  const float target = p.uniform[row] * mass;
  float running = 0.0f;
  int64_t pick = -1;
  int64_t last = argmax;
  for (int64_t j = 0; j < v; ++j) {
    if (sm_bits(e[j]) < threshold) continue;
    running += e[j];
    last = j;
    if (running > target) {
      pick = j;
      break;
    }
  }
  if (pick < 0) pick = last;  // rounding put the target at or past the total: the last kept token
  p.out[row] = pick;
  if (kept != nullptr) {
    const float inv = 1.0f / z;
    for (int64_t j = 0; j < v; ++j) kept[j] = sm_bits(e[j]) >= threshold ? e[j] * inv : 0.0f;
  }
}

}  // namespace FP_ISA_NS
}  // namespace cpu
}  // namespace fastprune
