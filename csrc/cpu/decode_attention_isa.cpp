// Decode attention for one (row, kv head) unit, for one instruction set.
//
// Compiled once per ISA (isa_target.h: FP_ISA_NS and FP_LANES). The unit stores the row's new key (after
// q/k RMSNorm and rotary) and value in the cache, then for the query heads sharing that kv head (GQA):
// scores over the visible keys (each key loaded once for all heads of the group), softmax with a
// vectorised exp, and the weighted sum of values (each value loaded once for the group). Scalar libm expf was most of the time at a few hundred cached positions.
#include "isa_target.h"

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
  // Scores four keys at a time: four independent accumulator chains per query vector hide FMA latency.
  for (int64_t h = 0; h < group; ++h) {
    const float* q = qs + h * d;
    float* row_scores = scores + h * span;
    int64_t j = 0;
    for (; j + 4 <= count; j += 4) {
      const float* k0 = kc + (lo + j) * d;
      VmVec a0{}, a1{}, a2{}, a3{};
      int64_t i = 0;
      for (; i + kDaLanes <= d; i += kDaLanes) {
        const VmVec qv = vm_load(q + i);
        a0 += qv * vm_load(k0 + i);
        a1 += qv * vm_load(k0 + d + i);
        a2 += qv * vm_load(k0 + 2 * d + i);
        a3 += qv * vm_load(k0 + 3 * d + i);
      }
      float s0 = vm_lane_sum(a0), s1 = vm_lane_sum(a1), s2 = vm_lane_sum(a2), s3 = vm_lane_sum(a3);
      for (; i < d; ++i) {
        s0 += q[i] * k0[i];
        s1 += q[i] * k0[d + i];
        s2 += q[i] * k0[2 * d + i];
        s3 += q[i] * k0[3 * d + i];
      }
      row_scores[j] = p.scale * s0;
      row_scores[j + 1] = p.scale * s1;
      row_scores[j + 2] = p.scale * s2;
      row_scores[j + 3] = p.scale * s3;
    }
    for (; j < count; ++j) row_scores[j] = p.scale * da_dot(q, kc + (lo + j) * d, d);
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

  // Weighted values, one vector of the head dimension at a time for up to four heads of the group: the
  // accumulators stay in registers over all keys, and each value vector is loaded once for those heads.
  for (int64_t h0 = 0; h0 < group; h0 += 4) {
    const int64_t hn = group - h0 < 4 ? group - h0 : 4;
    const float* w0 = scores + h0 * span;
    int64_t i = 0;
    for (; i + kDaLanes <= d; i += kDaLanes) {
      VmVec a[4] = {VmVec{}, VmVec{}, VmVec{}, VmVec{}};
      const float* vcol = vc + lo * d + i;
      for (int64_t j = 0; j < count; ++j) {
        const VmVec vv = vm_load(vcol + j * d);
        for (int64_t hh = 0; hh < hn; ++hh) a[hh] += vm_splat(w0[hh * span + j]) * vv;
      }
      for (int64_t hh = 0; hh < hn; ++hh) vm_store(acc + (h0 + hh) * d + i, a[hh]);
    }
    for (; i < d; ++i) {
      for (int64_t hh = 0; hh < hn; ++hh) {
        float sum = 0.0f;
        for (int64_t j = 0; j < count; ++j) sum += w0[hh * span + j] * vc[(lo + j) * d + i];
        acc[(h0 + hh) * d + i] = sum;
      }
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
