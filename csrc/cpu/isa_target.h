// The instruction set one copy of a per-ISA kernel body (<name>_isa.cpp) is compiled for. CMakeLists.txt
// compiles every body once per ISA with that ISA's -march and FASTPRUNE_TARGET_<ISA> defined; this header
// turns the define into the copy's namespace (isa.h's list) and register facts:
//   FP_ISA_NS  namespace of this copy (baseline, x86_64_v3, x86_64_v4)
//   FP_LANES   floats per vector register (4 SSE/NEON, 8 AVX2, 16 AVX-512)
//   FP_VREGS   vector registers (16 for SSE/AVX2, 32 for AVX-512)
// Everything a body defines has internal linkage or lives in FP_ISA_NS, so no symbol compiled for a wide
// ISA can be picked by the linker for baseline callers.
#pragma once

#if defined(FASTPRUNE_TARGET_X86_64_V4)  // AVX-512 F/BW/DQ/VL, called only after a runtime CPU check
#define FP_ISA_NS x86_64_v4
#define FP_LANES 16
#define FP_VREGS 32
#elif defined(FASTPRUNE_TARGET_X86_64_V3)  // AVX2 + FMA + F16C, called only after a runtime CPU check
#define FP_ISA_NS x86_64_v3
#define FP_LANES 8
#define FP_VREGS 16
#else  // the compiler's default target (SSE2 on x86-64, NEON on aarch64): always built, runs on any CPU
#define FP_ISA_NS baseline
#define FP_LANES 4
#define FP_VREGS 16
#endif
