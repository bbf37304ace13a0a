"""Backend selection: argument over FASTPRUNE_BACKEND over auto; quiet fallback, loud explicit failure."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from fastprune.errors import FastpruneError
from fastprune.ops import (
    BackendUnavailableError,
    UnknownBackendError,
    available_backends,
    boundary_stats,
    boundary_stats_ref,
    native,
    native_build_info,
    resolve_backend,
)
from fastprune.ops.availability import Availability

NATIVE_CPU = native_build_info()["cpu"]["loaded"]
needs_native_cpu = pytest.mark.skipif(not NATIVE_CPU, reason="fastprune._native_cpu is not built")


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("FASTPRUNE_BACKEND", raising=False)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    return monkeypatch


@pytest.fixture
def native_missing(clean_env):
    """Pretends neither compiled module was built."""

    def not_built(device_type):
        return None, f"{native.MODULES[device_type]} is not built", False

    clean_env.setattr(native, "_load", not_built)
    return clean_env


@needs_native_cpu
def test_auto_on_cpu_picks_native_when_built(clean_env):
    assert resolve_backend("cpu", op="boundary_stats") == "native"
    assert available_backends("cpu")[:2] == ["native", "torch"]


def test_auto_on_cpu_falls_back_to_torch_quietly(native_missing):
    assert resolve_backend("cpu", op="boundary_stats") == "torch"
    assert available_backends("cpu") == ["torch"]


def test_auto_never_uses_the_triton_interpreter(native_missing):
    native_missing.setenv("TRITON_INTERPRET", "1")
    assert resolve_backend("cpu", op="boundary_stats") == "torch"


@pytest.mark.parametrize("name", ["torch", "native"])
def test_env_var_selects_backend(clean_env, name):
    if name == "native" and not NATIVE_CPU:
        pytest.skip("fastprune._native_cpu is not built")
    clean_env.setenv("FASTPRUNE_BACKEND", name)
    assert resolve_backend("cpu", op="boundary_stats") == name


def test_argument_overrides_env(clean_env):
    clean_env.setenv("FASTPRUNE_BACKEND", "native")
    assert resolve_backend("cpu", "torch", op="boundary_stats") == "torch"


def test_explicit_native_unavailable_names_backend_and_fix(native_missing):
    native_missing.setenv("FASTPRUNE_BACKEND", "native")
    with pytest.raises(BackendUnavailableError, match=r"FASTPRUNE_BACKEND=native requested") as err:
        boundary_stats(torch.randn(2, 3, 4), torch.ones(3))
    assert "fastprune._native_cpu is not built" in str(err.value)
    assert "pip install" in str(err.value)


def test_explicit_triton_on_cpu_explains_interpreter(clean_env):
    with pytest.raises(BackendUnavailableError, match=r"backend='triton'.*TRITON_INTERPRET=1"):
        boundary_stats(torch.randn(2, 3, 4), torch.ones(3), backend="triton")


def test_triton_not_importable_is_explained(clean_env):
    from fastprune.ops import triton_support

    clean_env.setattr(triton_support, "_import_error", lambda: "ModuleNotFoundError: No module named 'triton'")
    found = triton_support.availability(torch.device("cuda"))
    assert not found and "triton is not importable" in found.reason


def test_unknown_backend_is_rejected(clean_env):
    clean_env.setenv("FASTPRUNE_BACKEND", "cuda")
    with pytest.raises(UnknownBackendError, match=r"FASTPRUNE_BACKEND=cuda: unknown backend 'cuda'") as err:
        resolve_backend("cpu", op="boundary_stats")
    assert isinstance(err.value, ValueError) and isinstance(err.value, FastpruneError)


def test_unavailable_backend_is_a_fastprune_error(native_missing):
    with pytest.raises(FastpruneError):
        resolve_backend("cpu", "native", op="boundary_stats")


def test_op_without_the_requested_implementation(clean_env):
    with pytest.raises(BackendUnavailableError, match="has no triton implementation"):
        resolve_backend("cpu", "triton", op="some_op", implemented=("torch", "native"))


def test_auto_on_cuda_prefers_triton_then_native(clean_env):
    available = {"triton": Availability(False, "x"), "native": Availability(True)}
    clean_env.setattr(
        "fastprune.ops.dispatch.backend_availability",
        lambda name, device: available.get(name, Availability(True)),
    )
    assert resolve_backend("cuda", op="boundary_stats") == "native"
    available["triton"] = Availability(True)
    assert resolve_backend("cuda", op="boundary_stats") == "triton"
    available["triton"] = available["native"] = Availability(False, "x")
    assert resolve_backend("cuda", op="boundary_stats") == "torch"


def test_torch_backend_is_the_reference(clean_env, residual_hidden, token_weights):
    hidden = residual_hidden(4, 10, 12)
    weight = token_weights(10)
    for got, want in zip(boundary_stats(hidden, weight, backend="torch"), boundary_stats_ref(hidden, weight),
                         strict=True):  # fmt: skip
        torch.testing.assert_close(got, want, rtol=0, atol=0)


@pytest.mark.parametrize(
    "hidden,weight,error,match",
    [
        (torch.randn(3, 4), torch.ones(3), ValueError, r"hidden must be \[K, N, D\]"),
        (torch.randn(1, 4, 5), torch.ones(4), ValueError, "K >= 2"),
        (torch.randn(3, 4, 0), torch.ones(4), ValueError, "D must be >= 1"),
        (torch.randn(3, 4, 5), torch.ones(5), ValueError, r"weight must be \[N\] = \[4\]"),
        (torch.randn(3, 4, 5).double(), torch.ones(4), TypeError, "float64 unsupported"),
        (torch.randn(3, 4, 5), torch.ones(4, device="meta"), ValueError, "weight is on meta"),
    ],
    ids=["rank", "k<2", "d=0", "weight-length", "dtype", "device"],
)
def test_invalid_inputs_are_clear_errors(clean_env, hidden, weight, error, match):
    with pytest.raises(error, match=match):
        boundary_stats(hidden, weight)


def test_integer_mask_weights_are_accepted(clean_env):
    hidden = torch.randn(3, 4, 5)
    mask = torch.tensor([1, 1, 0, 1])
    stats = boundary_stats(hidden, mask)
    assert float(stats.weight_sum) == 3.0


def test_import_touches_no_backend():
    code = (
        "import sys, torch, fastprune.ops\n"
        "loaded = [m for m in ('triton', 'fastprune._native_cpu', 'fastprune._native_cuda') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "assert not torch.cuda.is_initialized()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
