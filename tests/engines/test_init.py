"""``fastprune.engines``: the public names of the engine layer, and an import that stays cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_import_pulls_in_neither_torch_nor_vllm():
    """Stage CLIs import the engine layer at ``fastprune --help`` time: no torch, transformers or vLLM."""
    code = ("import sys, fastprune.engines, fastprune.engines.vllm_session, fastprune.engines.native; "
            "print(sorted(m for m in ('torch', 'transformers', 'vllm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_public_names_are_the_engines_own():
    import fastprune.engines as engines
    from fastprune.engines.native.engine import GenerationEngine
    from fastprune.engines.request_types import GenerationRequest, GenerationResult, SamplingParams

    assert engines.GenerationEngine is GenerationEngine
    assert (engines.GenerationRequest, engines.GenerationResult, engines.SamplingParams) == (
        GenerationRequest, GenerationResult, SamplingParams)
    assert set(engines.__all__) == {"GenerationEngine", "GenerationRequest", "GenerationResult", "SamplingParams"}


def test_unknown_name_is_an_attribute_error():
    import fastprune.engines as engines

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        engines.Nope  # noqa: B018
