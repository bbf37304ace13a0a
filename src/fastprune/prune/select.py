"""Layer-selection strategies that read precomputed statistics: block, bi, reverse, explicit.

``iterative`` needs the model itself and lives in ``fastprune.prune.iterative``. Every function returns
sorted, non-negative layer indices; validation of the final list is ``surgery.normalize_layers``.
"""

from __future__ import annotations

import math

from fastprune.errors import FastpruneError
from fastprune.importance.reader import Importance, finite_or_inf
from fastprune.importance.schema import DEFAULT_METRIC, REDUNDANT, SQUARE, WINDOWS, get_metric, metrics_for

STRATEGIES = ("block", "bi", "reverse", "iterative", "explicit")


def resolve_count(num_layers: int, drop: int | None = None, ratio: float | None = None) -> int:
    """How many layers to remove from ``--drop N`` or ``--ratio R`` (rounded to the nearest layer)."""
    if (drop is None) == (ratio is None):
        raise FastpruneError(
            "give exactly one of --drop N or --ratio R (or --layers for --strategy explicit)"
        )
    if ratio is not None:
        if not 0.0 < ratio < 1.0:
            raise FastpruneError(f"--ratio must be between 0 and 1 (exclusive), got {ratio}")
        drop = round(ratio * num_layers)
        if drop == 0:
            raise FastpruneError(
                f"--ratio {ratio} of {num_layers} layers rounds to 0 layers; use a larger ratio"
            )
    if drop < 1:
        raise FastpruneError(f"--drop must be at least 1, got {drop}")
    if drop >= num_layers:
        raise FastpruneError(f"cannot drop {drop} of {num_layers} layers; keep at least one")
    return drop


def parse_layer_list(text: str) -> list[int]:
    """``"21,22,-1"`` -> ``[21, 22, -1]`` (negative indices are resolved later against the layer count)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise FastpruneError("--layers is empty; give comma-separated layer indices, e.g. --layers 21,22,23")
    try:
        return [int(p) for p in parts]
    except ValueError as exc:
        raise FastpruneError(f"--layers {text!r}: every entry must be an integer ({exc})") from exc


def _usable(importance: Importance, strategy: str, metric: str, n: int):
    """The metric's schema entry and values, once it is known that ``strategy`` can rank by it."""
    spec = get_metric(metric)
    if spec is None or strategy not in spec.strategies:
        raise FastpruneError(
            f"--metric {metric!r} does not apply to {strategy}; use one of {', '.join(metrics_for(strategy))}"
        )
    values = importance.metric(metric)
    if spec.shape == WINDOWS:
        window, wanted = importance.window, 1 if strategy == "bi" else n
        if window != wanted:
            how = "single layers" if strategy == "bi" else f"{n}-layer blocks"
            raise FastpruneError(
                f"{importance.path}: {metric!r} was measured on {window}-layer blocks (calibrate --block "
                f"{window}), but --strategy {strategy} with {n} layers ranks {how}; recalibrate with "
                f"--block {wanted}" + (f", or use --strategy block --drop {window}" if strategy == "bi" else "")
            )
    return spec, values


def _rank_key(value, direction: str | None) -> float:
    """Sort key where the first candidates are the ones to remove; missing values sort last."""
    value = finite_or_inf(value)
    return -value if direction == REDUNDANT and not math.isinf(value) else value


def select_block(importance: Importance, n: int, metric: str = DEFAULT_METRIC["block"]) -> list[int]:
    """The contiguous block ``l..l+n-1`` that is least important by ``metric``: for a boundary-to-boundary
    matrix the entry between its input and its output ([l][l+n]), for a block metric its own value."""
    spec, values = _usable(importance, "block", metric, n)
    num_layers = importance.num_layers
    starts = range(num_layers - n + 1)
    raw = [values[start][start + n] if spec.shape == SQUARE else values[start] for start in starts]
    scores = [(_rank_key(value, spec.direction), start) for start, value in zip(starts, raw, strict=True)]
    best, start = min(scores)
    if best == float("inf"):
        raise FastpruneError(f"{importance.path}: every {n}-layer block has a missing {metric!r} value")
    return list(range(start, start + n))


def select_lowest(importance: Importance, n: int, metric: str = DEFAULT_METRIC["bi"]) -> list[int]:
    """The ``n`` least important layers by a per-layer ``metric``: the lowest values, or the highest where
    a high value means redundant (ties broken by the lower index)."""
    spec, values = _usable(importance, "bi", metric, n)
    ranked = sorted(range(len(values)), key=lambda i: (_rank_key(values[i], spec.direction), i))
    chosen = ranked[:n]
    if any(finite_or_inf(values[i]) == float("inf") for i in chosen):
        raise FastpruneError(f"{importance.path}: fewer than {n} layers have a finite {metric!r}")
    return sorted(chosen)


def select_reverse(num_layers: int, n: int) -> list[int]:
    """The ``n`` layers just before the last one (the last layer is kept: it shapes the output space)."""
    if n > num_layers - 1:
        raise FastpruneError(
            f"reverse keeps the last layer, so at most {num_layers - 1} of {num_layers} layers can be dropped"
        )
    return list(range(num_layers - 1 - n, num_layers - 1))
