"""Kernel implementations behind ``fastprune.ops``: Triton kernels (one module per op) and, as the
compiled modules ``fastprune._native_cpu`` / ``fastprune._native_cuda``, the C++/CUDA ones from ``csrc/``.

Nothing here is imported by ``import fastprune`` or ``import fastprune.ops``; the dispatcher imports a
kernel module only when that backend is chosen, so a missing Triton never breaks the package.
"""
