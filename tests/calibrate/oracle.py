"""An independent oracle for the calibration statistics, built from HF's own ``output_hidden_states``."""

from __future__ import annotations

import math

import torch


def boundaries_from_hf(model, ids: torch.Tensor) -> torch.Tensor:
    """``[L+1, S, D]`` boundaries of one unpadded sequence: HF's hidden_states for 0..L-1, and for L the
    input of the final norm (HF's last hidden state is after the norm, which is not what we measure)."""
    from fastprune.models import adapter_for

    adapter = adapter_for(model)
    captured = []
    handle = adapter.final_norm.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
    try:
        with torch.no_grad():
            out = model(ids.unsqueeze(0), output_hidden_states=True)
    finally:
        handle.remove()
    hs = [h[0] for h in out.hidden_states[:-1]] + [captured[0][0]]
    return torch.stack(hs).double()


def naive_sums(h: torch.Tensor) -> dict:
    """Per-token loops in float64: sums of cos, arccos/pi, norms and update ratios over tokens of ``h``."""
    k_count, n, _ = h.shape
    cos = torch.zeros(k_count, k_count, dtype=torch.float64)
    ang = torch.zeros_like(cos)
    for t in range(n):
        for i in range(k_count):
            for j in range(k_count):
                c = float(torch.dot(h[i, t], h[j, t]) / (h[i, t].norm() * h[j, t].norm()))
                c = max(-1.0, min(1.0, c))
                cos[i, j] += c
                ang[i, j] += math.acos(c) / math.pi
    norms = h.norm(dim=-1).sum(dim=1)
    update = ((h[1:] - h[:-1]).norm(dim=-1) / h[:-1].norm(dim=-1)).sum(dim=1)
    return {"cos": cos, "ang": ang, "norm": norms, "update": update, "n": n}


def naive_importance(model, sequences: list[list[int]]) -> dict:
    """The reported means, computed one sequence at a time (so no padding exists anywhere)."""
    total = last = None
    for seq in sequences:
        h = boundaries_from_hf(model, torch.tensor(seq))
        s, s_last = naive_sums(h), naive_sums(h[:, -1:])
        total = s if total is None else {k: total[k] + s[k] for k in s}
        last = s_last if last is None else {k: last[k] + s_last[k] for k in s_last}
    n, m = total["n"], last["n"]
    cos, cos_last = total["cos"] / n, last["cos"] / m
    k = cos.shape[0]
    return {
        "cosine": cos,
        "angular": total["ang"] / n,
        "norms": total["norm"] / n,
        "update_ratio": total["update"] / n,
        "bi": torch.tensor([1 - cos[i, i + 1] for i in range(k - 1)]),
        "cosine_last_token": cos_last,
        "angular_last_token": last["ang"] / m,
        "bi_last_token": torch.tensor([1 - cos_last[i, i + 1] for i in range(k - 1)]),
        "tokens": n,
        "sequences": len(sequences),
    }
