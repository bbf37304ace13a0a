// Small vector helpers shared by the per-ISA kernel bodies (<name>_isa.cpp): GCC/Clang vector extensions of
// FP_LANES floats (isa_target.h), compiled with the body's -march. Included once per unit (guarded).
#ifndef FASTPRUNE_VECTOR_MATH_INL
#define FASTPRUNE_VECTOR_MATH_INL

#include <cstdint>

namespace fastprune {
namespace cpu {
namespace FP_ISA_NS {
namespace {

constexpr int kVmLanes = FP_LANES;
typedef float VmVec __attribute__((vector_size(kVmLanes * sizeof(float))));
typedef int32_t VmIVec __attribute__((vector_size(kVmLanes * sizeof(int32_t))));

static inline VmVec vm_load(const float* p) {
  VmVec v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
static inline void vm_store(float* p, VmVec v) { __builtin_memcpy(p, &v, sizeof v); }
static inline VmVec vm_splat(float f) { return VmVec{} + f; }

// Lanes summed by halving in registers (extract + add), not through memory.
static inline float vm_lane_sum(VmVec v) {
  typedef float VmHalf4 __attribute__((vector_size(4 * sizeof(float))));
#if FP_LANES >= 8
  typedef float VmHalf8 __attribute__((vector_size(8 * sizeof(float))));
  VmHalf8 a;
  __builtin_memcpy(&a, &v, sizeof a);
#if FP_LANES >= 16
  VmHalf8 upper;
  __builtin_memcpy(&upper, reinterpret_cast<const char*>(&v) + sizeof a, sizeof upper);
  a += upper;
#endif
  VmHalf4 c, d;
  __builtin_memcpy(&c, &a, sizeof c);
  __builtin_memcpy(&d, reinterpret_cast<const char*>(&a) + sizeof c, sizeof d);
  c += d;
#else
  VmHalf4 c;
  __builtin_memcpy(&c, &v, sizeof c);
#endif
  return (c[0] + c[2]) + (c[1] + c[3]);
}

// exp(x) for x <= 0 (values minus their maximum): x = n ln2 + r with |r| <= ln2/2, exp(r) by a degree-6
// polynomial (Cephes expf coefficients, ~1 ulp), times 2^n built in the exponent bits. Below -87.3 the
// result flushes to 0, as float32 exp underflows there anyway; NaN stays NaN (its compares are false).
static inline VmVec vm_exp_nonpositive(VmVec x) {
  const VmVec lo = vm_splat(-87.3f);
  x = x < lo ? lo : x;
  const VmVec n = __builtin_convertvector(
      __builtin_convertvector(x * 1.44269504088896341f + (x < 0 ? -0.5f : 0.5f), VmIVec), VmVec);
  VmVec r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  VmVec p = vm_splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const VmIVec bits = (__builtin_convertvector(n, VmIVec) + 127) << 23;
  VmVec scale;
  __builtin_memcpy(&scale, &bits, sizeof scale);
  const VmVec out = p * scale;
  return x <= lo ? VmVec{} : out;
}

}  // namespace
}  // namespace FP_ISA_NS
}  // namespace cpu
}  // namespace fastprune

#endif  // FASTPRUNE_VECTOR_MATH_INL
