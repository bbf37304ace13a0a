"""Float64 running sums of every statistic, their non-finite check, and the means reported at the end.

All sums are over tokens (weighted by 1), so they add across batches, resumes and ranks; the means are
taken once, at the end. Everything lives in one dict of float64 tensors so a checkpoint is one
safetensors file and a multi-process reduction is one collective.
"""

from __future__ import annotations

import torch

from fastprune.errors import FastpruneError


def boundary_stats(hidden: torch.Tensor, weight: torch.Tensor, backend: str | None):
    """The one call into the fused statistics op (torch reference, Triton, C++ or CUDA)."""
    from fastprune.ops import boundary_stats as op

    return op(hidden, weight, backend=backend)


def resolve_stats_backend(device: torch.device, requested: str | None) -> str:
    """The backend the op will run on ``device`` (recorded in the results); a bad request fails here."""
    from fastprune.ops import BackendUnavailableError, resolve_backend

    try:
        return resolve_backend(device, requested, op="boundary_stats")
    except (BackendUnavailableError, ValueError) as exc:
        raise FastpruneError(f"statistics backend: {exc}; use --backend auto or torch") from exc


def _describe_boundary(k: int) -> str:
    return "the embeddings (input of layer 0)" if k == 0 else f"the output of layer {k - 1}"


class Accumulators:
    """Running sums for a model with ``num_layers`` layers (``num_layers + 1`` boundaries).

    ``loss_blocks``: number of skipped blocks measured by the loss ablation (0: off). ``taylor``: keep
    per-layer first-order Taylor sums.
    """

    def __init__(self, num_layers: int, loss_blocks: int = 0, taylor: bool = False):
        k = num_layers + 1
        z = lambda *shape: torch.zeros(*shape, dtype=torch.float64)
        self.sums: dict[str, torch.Tensor] = {
            "cos_sum": z(k, k),
            "ang_sum": z(k, k),
            "norm_sum": z(k),
            "update_sum": z(k - 1),
            "weight_sum": z(()),
            "last_cos_sum": z(k, k),
            "last_ang_sum": z(k, k),
            "last_weight_sum": z(()),
            "tokens": z(()),
            "sequences": z(()),
            "batches": z(()),
            "skipped_batches": z(()),
            "skipped_tokens": z(()),
        }
        if loss_blocks:
            self.sums.update(loss_base_sum=z(()), loss_skip_sum=z(loss_blocks), loss_count=z(()))
        if taylor:
            self.sums["taylor_sum"] = z(num_layers)
        self.num_layers = num_layers

    # -- per batch ------------------------------------------------------------------------------------
    @staticmethod
    def first_bad_boundary(stats) -> int | None:
        """Index of the first boundary whose statistics are not finite (NaN/inf activations), else None."""
        # A non-finite boundary k poisons row and column k of the matrices; its own diagonal entry and norm
        # single it out (and, if there were any doubt, the first non-finite row).
        bad = ~torch.isfinite(stats.norm_sum) | ~torch.isfinite(torch.diagonal(stats.cos_sum))
        if not bool(bad.any()):
            bad = ~torch.isfinite(stats.cos_sum).all(dim=1) | ~torch.isfinite(stats.ang_sum).all(dim=1)
        if not bool(bad.any()):
            return None
        return int(bad.nonzero()[0, 0])

    @staticmethod
    def nan_message(boundary: int, batch_index: int) -> str:
        return (
            f"non-finite (NaN/inf) activations at {_describe_boundary(boundary)} in batch {batch_index}; "
            "check the model's dtype (try --dtype float32) or pass --on-nan skip to leave such batches out"
        )

    def add_batch(
        self, stats, last_stats, sequences: int, extra: dict[str, torch.Tensor] | None = None
    ) -> None:
        """Add one batch's sums (``BoundaryStats`` of all tokens and of the last tokens)."""
        s = self.sums
        s["cos_sum"] += stats.cos_sum.cpu()
        s["ang_sum"] += stats.ang_sum.cpu()
        s["norm_sum"] += stats.norm_sum.cpu()
        s["update_sum"] += stats.update_sum.cpu()
        s["weight_sum"] += stats.weight_sum.cpu()
        s["last_cos_sum"] += last_stats.cos_sum.cpu()
        s["last_ang_sum"] += last_stats.ang_sum.cpu()
        s["last_weight_sum"] += last_stats.weight_sum.cpu()
        s["tokens"] += float(stats.weight_sum)
        s["sequences"] += sequences
        s["batches"] += 1
        for key, value in (extra or {}).items():
            s[key] += value.detach().to("cpu", torch.float64)

    def skip_batch(self, tokens: int) -> None:
        self.sums["skipped_batches"] += 1
        self.sums["skipped_tokens"] += tokens

    # -- persistence and reduction ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.clone() for k, v in self.sums.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if set(state) != set(self.sums):
            raise FastpruneError(
                f"saved calibration state has fields {sorted(state)}, expected {sorted(self.sums)}; "
                "it was written with other options: rerun with --overwrite"
            )
        for key, value in state.items():
            if value.shape != self.sums[key].shape:
                raise FastpruneError(
                    f"saved calibration state: {key} has shape {tuple(value.shape)}, expected "
                    f"{tuple(self.sums[key].shape)}; rerun with --overwrite"
                )
            self.sums[key] = value.to(torch.float64).clone()

    def reduced(self, all_reduce) -> dict[str, torch.Tensor]:
        """Sums over all ranks (``all_reduce`` sums a flat float64 tensor in place), leaving ours intact."""
        keys = sorted(self.sums)
        flat = torch.cat([self.sums[k].reshape(-1) for k in keys])
        all_reduce(flat)
        out, offset = {}, 0
        for k in keys:
            n = self.sums[k].numel()
            out[k] = flat[offset : offset + n].view_as(self.sums[k]).clone()
            offset += n
        return out


def means(sums: dict[str, torch.Tensor]) -> dict:
    """The reported statistics (plain lists) from summed accumulators."""
    w, lw = float(sums["weight_sum"]), float(sums["last_weight_sum"])
    if w <= 0:
        raise FastpruneError("no tokens were measured (empty corpus, or every batch was skipped)")
    cosine = sums["cos_sum"] / w
    last_cos = sums["last_cos_sum"] / lw
    n = cosine.shape[0] - 1
    out = {
        "cosine": cosine.tolist(),
        "angular": (sums["ang_sum"] / w).tolist(),
        "bi": [1.0 - float(cosine[i, i + 1]) for i in range(n)],
        "cosine_last_token": last_cos.tolist(),
        "angular_last_token": (sums["last_ang_sum"] / lw).tolist(),
        "bi_last_token": [1.0 - float(last_cos[i, i + 1]) for i in range(n)],
        "norms": (sums["norm_sum"] / w).tolist(),
        "update_ratio": (sums["update_sum"] / w).tolist(),
    }
    if "loss_skip_sum" in sums:
        count = float(sums["loss_count"])
        base = float(sums["loss_base_sum"]) / count
        out["loss_base"] = base
        out["loss_delta"] = [float(v) / count - base for v in sums["loss_skip_sum"]]
    if "taylor_sum" in sums:
        out["taylor"] = (sums["taylor_sum"] / w).tolist()
    return out
