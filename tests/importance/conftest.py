"""Importance files computed from real forward passes of tiny models (no hand-written numbers)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from fastprune.models.fingerprint import model_fingerprint
from fastprune.models.layer_runner import LayerRunner


def compute_importance(loaded, seed: int = 0) -> dict:
    """Angular distances and block influence between layer boundaries on random tokens, in the
    importance.json layout the calibrate stage writes (a small stand-in for it, not a replacement)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 256, (2, 48), generator=g)
    runner = LayerRunner(loaded)
    trace = runner.capture(ids, torch.ones_like(ids))
    states = [h.reshape(-1, h.shape[-1]).float() for h in [*trace.layer_inputs, trace.final]]
    n = len(states) - 1
    cosine = [[float(torch.nn.functional.cosine_similarity(a, b, dim=-1).mean()) for b in states] for a in states]
    angular = [[math.acos(max(-1.0, min(1.0, c))) / math.pi for c in row] for row in cosine]
    bi = [1.0 - cosine[i][i + 1] for i in range(n)]
    return {
        "model": loaded.name,
        "num_layers": n,
        "tokens": int(ids.numel()),
        "cosine": cosine,
        "angular": angular,
        "bi": bi,
        "norms": [float(s.norm(dim=-1).mean()) for s in states],
        "fingerprint": model_fingerprint(loaded.model),
    }


@pytest.fixture
def importance_file(tmp_path):
    """Factory: ``importance_file(loaded, drop=("bi",), **overrides)`` -> path of a written importance.json."""

    def make(loaded, drop=(), name="importance.json", **overrides):
        data = compute_importance(loaded)
        for key in drop:
            data.pop(key, None)
        data.update(overrides)
        path = tmp_path / name
        path.write_text(json.dumps(data))
        return path

    return make
