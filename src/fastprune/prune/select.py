"""Layer-selection strategies that read precomputed statistics: block, bi, reverse, explicit.

``iterative`` needs the model itself and lives in ``fastprune.prune.iterative``. Every function returns
sorted, non-negative layer indices; validation of the final list is ``surgery.normalize_layers``.
"""

from __future__ import annotations

from fastprune.errors import FastpruneError
from fastprune.prune.importance import Importance, finite_or_inf

STRATEGIES = ("block", "bi", "reverse", "iterative", "explicit")
# Per-layer metrics where a low value means "this layer changes little": the n lowest are removed.
LAYER_METRICS = ("bi", "bi_last_token", "update_ratio", "loss_delta")
# (L+1)x(L+1) distance matrices for the block strategy: entry [l][l+n] is how far n layers move the state.
BLOCK_METRICS = ("angular", "angular_last_token")


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


def select_block(importance: Importance, n: int, metric: str = "angular") -> list[int]:
    """The contiguous block ``l..l+n-1`` with the smallest distance between its input and its output."""
    if metric not in BLOCK_METRICS:
        raise FastpruneError(
            f"--metric {metric!r} does not apply to block; use one of {', '.join(BLOCK_METRICS)}"
        )
    distance = importance.metric(metric)
    num_layers = importance.num_layers
    scores = [(finite_or_inf(distance[start][start + n]), start) for start in range(num_layers - n + 1)]
    best, start = min(scores)
    if best == float("inf"):
        raise FastpruneError(f"{importance.path}: every {n}-layer block has a missing {metric!r} distance")
    return list(range(start, start + n))


def select_lowest(importance: Importance, n: int, metric: str = "bi") -> list[int]:
    """The ``n`` layers with the lowest per-layer ``metric`` (ties broken by the lower index)."""
    if metric not in LAYER_METRICS:
        raise FastpruneError(
            f"--metric {metric!r} does not apply to bi; use one of {', '.join(LAYER_METRICS)}"
        )
    values = importance.metric(metric)
    ranked = sorted(range(len(values)), key=lambda i: (finite_or_inf(values[i]), i))
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
