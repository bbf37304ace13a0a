// CPU instruction sets (ISAs): which ones this module was compiled for, which this CPU can run, and which
// a call uses. Knows no kernel: CMakeLists.txt compiles every per-ISA kernel body (<name>_isa.cpp) once per
// ISA, into the namespace FP_ISA_NS that isa_target.h names, and each driver picks its variant here.
//
// Free of standard-library headers, like the kernel headers that include it (see boundary_stats_kernel.h).
#pragma once

// X(namespace, "name", arg) for every compiled ISA: baseline first, then in increasing capability (the
// index of an ISA below is its place in this list). CMakeLists.txt defines FASTPRUNE_HAVE_<ISA> for each ISA
// the compiler could target.
#if defined(FASTPRUNE_HAVE_X86_64_V3)
#define FASTPRUNE_ISA_X86_64_V3_(X, arg) X(x86_64_v3, "x86-64-v3", arg)
#else
#define FASTPRUNE_ISA_X86_64_V3_(X, arg)
#endif
#if defined(FASTPRUNE_HAVE_X86_64_V4)
#define FASTPRUNE_ISA_X86_64_V4_(X, arg) X(x86_64_v4, "x86-64-v4", arg)
#else
#define FASTPRUNE_ISA_X86_64_V4_(X, arg)
#endif
#define FASTPRUNE_FOR_EACH_ISA(X, arg) \
  X(baseline, "baseline", arg) FASTPRUNE_ISA_X86_64_V3_(X, arg) FASTPRUNE_ISA_X86_64_V4_(X, arg)

// {&baseline::fn, &x86_64_v3::fn, ...}: the variants of a function that every <name>_isa.cpp copy defines.
#define FASTPRUNE_ISA_ADDRESS_(ns, name, fn) &::fastprune::cpu::ns::fn,
#define FASTPRUNE_ISA_VARIANTS(fn) {FASTPRUNE_FOR_EACH_ISA(FASTPRUNE_ISA_ADDRESS_, fn)}

namespace fastprune {
namespace cpu {

int isa_count();               // ISAs compiled in
const char* isa_name(int isa);  // "baseline", "x86-64-v3", ...
bool isa_supported(int isa);    // this CPU can run it

// The ISA a call uses: FASTPRUNE_CPU_ISA if set, else the best this CPU supports. Read at every call, so a
// test can switch it. Throws std::runtime_error when FASTPRUNE_CPU_ISA names an ISA that is not compiled in
// or that this CPU cannot run.
int selected_isa();

// The variant for `isa` of a function defined in every ISA's namespace, e.g.
//   const SampleRowFn row = isa_variant(FASTPRUNE_ISA_VARIANTS(sample_row));
template <typename Fn, int N>
Fn isa_variant(Fn const (&variants)[N], int isa = selected_isa()) {
  return variants[isa];
}

}  // namespace cpu
}  // namespace fastprune
