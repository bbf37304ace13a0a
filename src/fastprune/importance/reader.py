"""Reading ``importance.json`` (written by ``fastprune calibrate``) and checking it belongs to the model.

Each metric is checked against its shape in ``fastprune.importance.schema``; the statistics themselves
are the calibrate stage's business. A file computed on another model is refused by layer count and, when
the file carries one, by the weight fingerprint (``fastprune.models.fingerprint``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from fastprune.errors import FastpruneError
from fastprune.importance.schema import SCALAR, SQUARE, WINDOWS, expected_length, get_metric, metric_names
from fastprune.models.fingerprint import fingerprint_mismatches, model_fingerprint
from fastprune.utils_io import sha256_file


@dataclass
class Importance:
    path: Path
    sha256: str
    data: dict

    @property
    def num_layers(self) -> int:
        return int(self.data["num_layers"])

    @property
    def window(self) -> int:
        """Layers per skipped block of the loss ablation (calibrate --block; 1 when not recorded)."""
        block = (self.data.get("settings") or {}).get("block", 1)
        return block if isinstance(block, int) and block >= 1 else 1

    def present(self) -> list[str]:
        """The schema metrics this file holds."""
        return [name for name in metric_names() if self.data.get(name) is not None]

    def metric(self, name: str):
        """The metric ``name`` validated against the layer count; a clear error when it is missing."""
        spec = get_metric(name)
        if spec is None:
            raise FastpruneError(f"unknown metric {name!r}; the metrics are: {', '.join(metric_names())}")
        if name not in self.data or self.data[name] is None:
            how = f"'fastprune calibrate {spec.flag}'" if spec.flag else "'fastprune calibrate'"
            raise FastpruneError(
                f"{self.path} has no {name!r} metric (it has: {', '.join(sorted(self.present())) or 'none'}); "
                f"re-run {how} to compute it or pick another --strategy/--metric"
            )
        value = self.data[name]
        n = self.num_layers
        size = expected_length(spec.shape, n, self.window)
        if spec.shape == SCALAR:
            ok = isinstance(value, (int, float))
            expected = "a number"
        elif spec.shape == SQUARE:
            ok = isinstance(value, list) and len(value) == size and all(
                isinstance(row, list) and len(row) == size for row in value
            )
            expected = f"a {size}x{size} matrix"
        else:
            ok = isinstance(value, list) and len(value) == size and all(
                x is None or isinstance(x, (int, float)) for x in value
            )
            expected = f"a list of {size} numbers"
        if not ok:
            detail = f" measured on {self.window}-layer blocks" if spec.shape == WINDOWS else ""
            raise FastpruneError(f"{self.path}: metric {name!r} should be {expected} for {n} layers{detail}")
        return value


def load_importance(path: str | Path) -> Importance:
    """Parse ``path`` (or ``path/importance.json`` for a directory); errors name the file and the problem."""
    path = Path(path)
    if path.is_dir():
        path = path / "importance.json"
    if not path.is_file():
        raise FastpruneError(
            f"importance file {path} not found; run 'fastprune calibrate MODEL' to create it"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FastpruneError(f"importance file {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("num_layers"), int) or data["num_layers"] < 1:
        raise FastpruneError(
            f"importance file {path} has no positive integer 'num_layers'; is it an importance.json?"
        )
    return Importance(path=path, sha256=sha256_file(path), data=data)


def check_matches_model(importance: Importance, model) -> None:
    """Refuse an importance file computed on a different model (layer count, then fingerprint)."""
    current = model_fingerprint(model)
    if importance.num_layers != current["num_layers"]:
        raise FastpruneError(
            f"{importance.path} was computed on a {importance.num_layers}-layer model "
            f"({importance.data.get('model', 'unknown')}), but this model has {current['num_layers']} "
            "layers; "
            "calibrate this model first"
        )
    recorded = importance.data.get("fingerprint")
    if isinstance(recorded, dict):
        problems = fingerprint_mismatches(recorded, current)
        if problems:
            raise FastpruneError(
                f"{importance.path} was computed on another model "
                f"({importance.data.get('model', 'unknown')}): "
                + "; ".join(problems)
                + ". Calibrate this model, or pass the importance file that belongs to it"
            )


def finite_or_inf(value) -> float:
    """Metric entries may be null/NaN (e.g. a degenerate layer); such a candidate must never be chosen."""
    if value is None:
        return math.inf
    value = float(value)
    return math.inf if math.isnan(value) else value
