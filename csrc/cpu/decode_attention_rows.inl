// Decode attention for one (row, kv head) unit, for one instruction set.
//
// Included by isa_*.cpp after FP_ISA_NS and FP_LANES are defined, compiled with the matching -march.
// The unit stores the row's new key (after q/k RMSNorm and rotary) and value in the cache, then for the
// query heads sharing that kv head (GQA): scores over the visible keys (each key loaded once for all
// heads of the group), softmax with a vectorised exp, and the weighted sum of values (each value loaded
// once for the group). Scalar libm expf was most of the time at a few hundred cached positions.
#include "decode_attention_kernel.h"
#include "vector_math.inl"

namespace fastprune {
namespace cpu {
namespace FP_ISA_NS {
namespace {

constexpr int kDaLanes = kVmLanes;

static inline float da_dot(const float* a, const float* b, int64_t d) {
  VmVec acc{};
  int64_t i = 0;
  for (; i + kDaLanes <= d; i += kDaLanes) acc += vm_load(a + i) * vm_load(b + i);
  float s = vm_lane_sum(acc);
  for (; i < d; ++i) s += a[i] * b[i];
  return s;
}

// In place: x = norm_weight * (x * rsqrt(mean(x^2) + eps)), then x * cos + roll(x, d/2) * sin_signed.
static inline void da_norm_rotate(float* x, const float* norm_weight, float eps, const float* cos, const float* sin,
                                  int64_t d, float* tmp) {
  if (norm_weight != nullptr) {
    const float scale = 1.0f / __builtin_sqrtf(da_dot(x, x, d) / static_cast<float>(d) + eps);
    for (int64_t i = 0; i < d; ++i) x[i] = norm_weight[i] * (x[i] * scale);
  }
  const int64_t half = d / 2;
  for (int64_t i = 0; i < d; ++i) tmp[i] = x[i];
  for (int64_t i = 0; i < half; ++i) x[i] = tmp[i] * cos[i] + tmp[i + half] * sin[i];
  for (int64_t i = half; i < d; ++i) x[i] = tmp[i] * cos[i] + tmp[i - half] * sin[i];
}

}  // namespace

void decode_attention_unit(const DecodeAttentionProblem& p, int64_t r, int64_t g, float* scratch) {
  const int64_t d = p.head_dim;
  const int64_t group = p.heads / p.kv_heads;
  const int64_t pos = p.positions[r];
  const float* cos = p.cos_table + pos * d;
  const float* sin = p.sin_table + pos * d;
  const int64_t base = (r * p.kv_heads + g) * p.cache_len;
  float* kc = p.k_cache + base * d;
  float* vc = p.v_cache + base * d;
  const int64_t span = p.cache_len + 16;  // score row stride, room for a vector past the last key
  float* tmp = scratch;
  float* qs = tmp + d;                 // [group, d]
  float* acc = qs + group * d;         // [group, d]
  float* scores = acc + group * d;     // [group, span]

  float* knew = kc + pos * d;
  const float* ksrc = p.k_new + r * p.k_stride + g * d;
  const float* vsrc = p.v_new + r * p.v_stride + g * d;
  for (int64_t i = 0; i < d; ++i) knew[i] = ksrc[i];
  da_norm_rotate(knew, p.k_norm, p.norm_eps, cos, sin, d, tmp);
  for (int64_t i = 0; i < d; ++i) vc[pos * d + i] = vsrc[i];

  for (int64_t h = 0; h < group; ++h) {
    const float* qsrc = p.q + r * p.q_stride + (g * group + h) * d;
    float* q = qs + h * d;
    for (int64_t i = 0; i < d; ++i) q[i] = qsrc[i];
    da_norm_rotate(q, p.q_norm, p.norm_eps, cos, sin, d, tmp);
  }

  const int64_t lo = p.window > 0 && pos - p.window + 1 > 0 ? pos - p.window + 1 : 0;
  const int64_t count = pos - lo + 1;
  for (int64_t j = 0; j < count; ++j) {
    const float* kj = kc + (lo + j) * d;
    for (int64_t h = 0; h < group; ++h) scores[h * span + j] = p.scale * da_dot(qs + h * d, kj, d);
  }

  for (int64_t h = 0; h < group; ++h) {
    float* s = scores + h * span;
    float best = s[0];
    for (int64_t j = 1; j < count; ++j) best = s[j] > best ? s[j] : best;
    for (int64_t j = count; j < count + kDaLanes; ++j) s[j] = -__builtin_inff();
    VmVec total{};
    const VmVec m = vm_splat(best);
    for (int64_t j = 0; j < count; j += kDaLanes) {
      const VmVec e = vm_exp_nonpositive(vm_load(s + j) - m);
      vm_store(s + j, e);
      total += e;
    }
    const float inv = 1.0f / vm_lane_sum(total);
    for (int64_t j = 0; j < count; ++j) s[j] *= inv;
  }

  for (int64_t i = 0; i < group * d; ++i) acc[i] = 0.0f;
  for (int64_t j = 0; j < count; ++j) {
    const float* vj = vc + (lo + j) * d;
    for (int64_t h = 0; h < group; ++h) {
      const float w = scores[h * span + j];
      float* a = acc + h * d;
#pragma omp simd
      for (int64_t i = 0; i < d; ++i) a[i] += w * vj[i];
    }
  }
  for (int64_t h = 0; h < group; ++h) {
    float* o = p.out + r * p.out_stride + (g * group + h) * d;
    for (int64_t i = 0; i < d; ++i) o[i] = acc[h * d + i];
  }
}

}  // namespace FP_ISA_NS
}  // namespace cpu
}  // namespace fastprune
