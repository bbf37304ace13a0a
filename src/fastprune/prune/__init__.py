"""Layer selection and structural pruning that produce standard, verified HF checkpoints.

Exports resolve lazily: ``fastprune.prune.cli`` is imported by ``fastprune --help``, which must not pay
for torch and transformers.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "choose_layers": "api", "prune_and_save": "api",
    "Importance": "fastprune.importance", "check_matches_model": "fastprune.importance",
    "load_importance": "fastprune.importance",
    "PruneOptions": "options",
    "LMLossScorer": "iterative", "ModelScorer": "iterative", "Scorer": "iterative", "calibration_batches": "iterative",
    "iterative_select": "iterative",
    "STRATEGIES": "select",
    "pruning_summary": "summary",
    "verify_checkpoint": "verify",
    "write_checkpoint": "checkpoint",
}
__all__ = sorted([*_EXPORTS, "run"])


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'fastprune.prune' has no attribute {name!r}")
    module = _EXPORTS[name]
    return getattr(importlib.import_module(module if "." in module else f"fastprune.prune.{module}"), name)


def run(options) -> int:
    """The prune stage on a ``PruneOptions`` (what ``fastprune prune`` and ``fastprune run`` call)."""
    from fastprune.prune.cli import execute

    return execute(options)
