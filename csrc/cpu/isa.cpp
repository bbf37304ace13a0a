// CPU feature detection and the FASTPRUNE_CPU_ISA override (see isa.h).
#include "isa.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace fastprune {
namespace cpu {
namespace {

#define FASTPRUNE_ISA_NAME_(ns, name, unused) name,
constexpr const char* kIsaNames[] = {FASTPRUNE_FOR_EACH_ISA(FASTPRUNE_ISA_NAME_, _)};
#undef FASTPRUNE_ISA_NAME_
constexpr int kIsaCount = static_cast<int>(sizeof(kIsaNames) / sizeof(kIsaNames[0]));

bool cpu_supports(const char* isa) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  if (std::strcmp(isa, "x86-64-v3") == 0) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c") &&
           __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
  }
  if (std::strcmp(isa, "x86-64-v4") == 0) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
#endif
  return std::strcmp(isa, "baseline") == 0;
}

}  // namespace

int isa_count() { return kIsaCount; }

const char* isa_name(int isa) {
  if (isa < 0 || isa >= kIsaCount) throw std::out_of_range("no compiled ISA " + std::to_string(isa));
  return kIsaNames[isa];
}

bool isa_supported(int isa) { return cpu_supports(isa_name(isa)); }

int selected_isa() {
  const char* forced = std::getenv("FASTPRUNE_CPU_ISA");
  if (forced != nullptr && *forced != '\0') {
    for (int isa = 0; isa < kIsaCount; ++isa) {
      if (std::strcmp(forced, kIsaNames[isa]) == 0) {
        if (!cpu_supports(kIsaNames[isa])) {
          throw std::runtime_error(std::string("FASTPRUNE_CPU_ISA=") + forced + ": this CPU cannot run it");
        }
        return isa;
      }
    }
    throw std::runtime_error(std::string("FASTPRUNE_CPU_ISA=") + forced + ": not compiled into this module");
  }
  int best = 0;
  for (int isa = 0; isa < kIsaCount; ++isa) {
    if (cpu_supports(kIsaNames[isa])) best = isa;
  }
  return best;
}

}  // namespace cpu
}  // namespace fastprune
