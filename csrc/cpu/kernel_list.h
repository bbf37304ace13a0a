// The CPU kernels of fastprune._native_cpu: the one list a new kernel is added to.
//
// FASTPRUNE_CPU_KERNEL(name) stands for two sources next to this file:
//   <name>_cpu.cpp  the driver (validation, threads, the ISA variant from isa.h) and
//                   `void bind_<name>(pybind11::module_& m)`, which defines its Python functions;
//   <name>_isa.cpp  the per-instruction-set body, compiled once per ISA (isa_target.h).
// CMakeLists.txt reads the names from the lines below (one entry per line, nothing else on it) and
// bindings.cpp expands them into declarations and calls of bind_<name>. No include guard: it is included
// once per expansion.
FASTPRUNE_CPU_KERNEL(boundary_stats)
FASTPRUNE_CPU_KERNEL(skinny_linear)
FASTPRUNE_CPU_KERNEL(decode_attention)
FASTPRUNE_CPU_KERNEL(sampling)
