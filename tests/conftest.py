"""Shared fixtures: tiny random models of every family, and the embedded model (loaded once)."""

from __future__ import annotations

import os

import pytest

# Tests never reach a hub; fail fast instead of waiting on network timeouts.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))


@pytest.fixture(scope="session")
def shared_data() -> str:
    """Path of ../shared/data (real GSM8K, PIQA, WikiText-2, code_alpaca files)."""
    if not os.path.isdir(SHARED_DATA):
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def embedded():
    """The embedded SmolLM2-135M-Instruct (fp32, CPU), loaded once per test session."""
    from fastprune.models import load_model

    return load_model("smollm2-135m", dtype="float32", device="cpu")


@pytest.fixture
def tiny():
    """Factory: ``tiny("qwen3", layers=6)`` -> LoadedModel of a tiny random model with a byte tokenizer."""
    from fastprune.models import load_model

    def make(family: str = "llama", layers: int = 6, seed: int = 0):
        return load_model(f"tiny:{family}:{layers}", dtype="float32", device="cpu", seed=seed)

    return make


@pytest.fixture(autouse=True)
def _threads_for_model_size(request):
    """Tiny models run faster on one intra-op thread (extra threads only spin on a 2-core machine, and
    much worse when it is shared); tests marked ``embedded`` keep torch's default for the 135M model."""
    import torch

    if request.node.get_closest_marker("embedded"):
        yield
        return
    before, env = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"  # what the CLI's default (fastprune.threads) resolves to, in-process
    yield
    torch.set_num_threads(before)
    if env is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = env


@pytest.fixture(autouse=True)
def _cli_logging():
    """Messages print as under the command line (fastprune.log at its default level), also where a test
    calls a stage's function directly; reset for every test, so one test's -q does not quiet the next."""
    from fastprune import log

    log.configure(log.DEFAULT)
