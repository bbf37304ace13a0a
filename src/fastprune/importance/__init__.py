"""The importance metrics shared by calibrate (which writes them) and prune (which ranks layers by them).

``schema`` is the one definition of every metric (pure Python, imported by ``fastprune --help``);
``reader`` loads and validates ``importance.json`` and resolves lazily, since it needs torch.
"""

from __future__ import annotations

import importlib

from fastprune.importance.schema import (
    DEFAULT_METRIC,
    METRICS,
    Metric,
    get_metric,
    metric_names,
    metrics_for,
    rankable_names,
)

_READER = ("Importance", "check_matches_model", "finite_or_inf", "load_importance")
__all__ = [
    "DEFAULT_METRIC", "METRICS", "Metric", "get_metric", "metric_names", "metrics_for", "rankable_names",
    *_READER,
]


def __getattr__(name: str):
    if name not in _READER:
        raise AttributeError(f"module 'fastprune.importance' has no attribute {name!r}")
    return getattr(importlib.import_module("fastprune.importance.reader"), name)
