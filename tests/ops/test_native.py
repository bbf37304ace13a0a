"""The compiled modules: what they report about their build, and that they load without a GPU."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fastprune.ops import native_build_info

INFO = native_build_info()


def test_build_info_has_a_stable_shape():
    for device_type in ("cpu", "cuda"):
        entry = INFO[device_type]
        assert {"built", "loaded", "path", "error"} <= entry.keys()
        assert entry["loaded"] == (entry["error"] is None)
        if not entry["built"]:
            assert "is not built" in entry["error"]


@pytest.mark.skipif(not INFO["cpu"]["loaded"], reason=f"native CPU module unavailable: {INFO['cpu']['error']}")
def test_cpu_build_info():
    cpu = INFO["cpu"]
    assert cpu["path"].endswith(".so") or cpu["path"].endswith(".pyd")
    assert isinstance(cpu["openmp"], bool) and cpu["compiler"]
    assert cpu["isas_compiled"][0] == "baseline"
    assert set(cpu["isas_supported"]) <= set(cpu["isas_compiled"])
    assert cpu["isa_selected"] in cpu["isas_supported"]
    assert cpu["march_native"] is False, "release builds must stay portable"


@pytest.mark.skipif(not INFO["cuda"]["built"], reason="fastprune._native_cuda not built (no nvcc at build time)")
def test_cuda_module_loads_without_a_gpu():
    """Static cudart and no CUDA call at import: a CPU-only machine can still import and describe it."""
    cuda = INFO["cuda"]
    assert cuda["loaded"], cuda["error"]
    assert cuda["archs"] and all(re.fullmatch(r"\d+[af]?(-real|-virtual)?", arch) for arch in cuda["archs"])
    assert cuda["cudart"].startswith("static")
    import fastprune._native_cuda as module

    assert isinstance(module.runtime_info()["driver_version"], int)
    assert module.boundary_stats_size(31) == 2 * 31 * 31 + 2 * 31


def test_every_cpu_kernel_source_is_in_the_one_kernel_list():
    """csrc/cpu/kernel_list.h drives both the CMake sources and the bindings: a driver or per-ISA body that
    is not listed would silently not be built, and a listed kernel must have both."""
    cpu = Path(__file__).resolve().parents[2] / "csrc" / "cpu"
    listed = re.findall(r"^FASTPRUNE_CPU_KERNEL\((\w+)\)$", (cpu / "kernel_list.h").read_text(), flags=re.M)
    assert listed and len(set(listed)) == len(listed)
    for part in ("cpu", "isa"):
        on_disk = {p.name.removesuffix(f"_{part}.cpp") for p in cpu.glob(f"*_{part}.cpp")}
        assert on_disk == set(listed), f"*_{part}.cpp files {sorted(on_disk)} vs kernel_list.h {listed}"
