"""``fastprune.generate``: the stage's public names (what the pipeline imports), resolved lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_exports_resolve_to_the_stage_modules():
    import fastprune.generate as generate
    from fastprune.generate import prompts, self_responses

    assert generate.load_prompts is prompts.load_prompts
    assert generate.Prompt is prompts.Prompt
    assert generate.run_self_responses is self_responses.run_self_responses
    assert generate.SelfResponseConfig is self_responses.SelfResponseConfig
    assert generate.pending_prompts is self_responses.pending_prompts
    with pytest.raises(AttributeError, match="GenerationEngine"):
        generate.GenerationEngine  # noqa: B018  (the engine lives in fastprune.engines now)


def test_package_import_loads_only_the_options_module():
    code = ("import sys, fastprune.generate; "
            "print(sorted(m for m in sys.modules if m.startswith('fastprune.generate.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "['fastprune.generate.options']", out.stdout + out.stderr
