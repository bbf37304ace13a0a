// Element types understood by every native kernel, and their conversion to float.
//
// The codes are part of the Python <-> native ABI (DTYPE_CODES in fastprune/ops/native.py mirrors them),
// so they never change meaning; new types get new codes.
//
// The helpers are `static inline` on purpose: the CPU kernels are compiled several times with
// different -march flags, and an ordinary `inline` function would become one COMDAT symbol that the
// linker may take from the AVX-512 object for every caller (an illegal instruction on older CPUs).
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define FP_HOST_DEVICE __host__ __device__
#else
#define FP_HOST_DEVICE
#endif

namespace fastprune {

enum DType : int { kFloat32 = 0, kBFloat16 = 1, kFloat16 = 2 };

static inline bool dtype_is_valid(int code) { return code == kFloat32 || code == kBFloat16 || code == kFloat16; }

static inline const char* dtype_name(int code) {
  switch (code) {
    case kFloat32: return "float32";
    case kBFloat16: return "bfloat16";
    case kFloat16: return "float16";
    default: return "unknown";
  }
}

static inline FP_HOST_DEVICE float bits_to_float(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
#endif
}

// bfloat16 is the top half of a float32, so widening is exact and branch-free.
static inline FP_HOST_DEVICE float bf16_to_float(uint16_t h) { return bits_to_float(uint32_t(h) << 16); }

// IEEE binary16 -> binary32 without F16C or <cuda_fp16.h>, so the same code runs on every CPU.
// Written as selects rather than branches so `omp simd` loops over it vectorise.
static inline FP_HOST_DEVICE float fp16_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  // Normal numbers: rebias the exponent (15 -> 127).
  const uint32_t normal = sign | ((exp + 112u) << 23) | (man << 13);
  // Inf/NaN keep their payload; exponent becomes all ones.
  const uint32_t special = sign | 0x7f800000u | (man << 13);
  // Zero and subnormals: man * 2^-24 is exact in float32.
  const float sub = float(man) * 5.9604644775390625e-08f;
  const float sub_signed = sign ? -sub : sub;
  const float as_bits = bits_to_float(exp == 0x1fu ? special : normal);
  return exp == 0 ? sub_signed : as_bits;
}

}  // namespace fastprune
