"""``fastprune.evaluate``: the comparison and report helpers it exports resolve on first use (scipy)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_lazy_exports_resolve_to_their_modules():
    import fastprune.evaluate as evaluate
    from fastprune.evaluate import compare, report, stats

    assert evaluate.compare_evals is compare.compare_evals
    assert evaluate.load_eval is compare.load_eval
    for name in ("chance_note", "retention_interval", "too_small", "with_interval"):
        assert getattr(evaluate, name) is getattr(report, name)
    assert evaluate.PairedComparison is stats.PairedComparison
    assert set(evaluate.__all__) >= {"compare_evals", "PairedComparison", "make_tasks"}
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        evaluate.nope  # noqa: B018


def test_package_import_does_not_load_scipy():
    code = "import sys, fastprune.evaluate; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stdout + out.stderr
