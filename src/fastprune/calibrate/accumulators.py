"""Float64 running sums of every statistic, their non-finite check, and the means reported at the end.

All sums are over tokens (weighted by 1), so they add across batches, resumes and ranks; the means are
taken once, at the end. Everything lives in one dict of float64 tensors so a checkpoint is one
safetensors file and a multi-process reduction is one collective. Which sums exist and how each metric
comes out of them is ``fastprune.importance.schema``.
"""

from __future__ import annotations

import torch

from fastprune.errors import FastpruneError
from fastprune.importance.schema import (
    ALL_TOKENS,
    LAST_TOKEN,
    MEAN,
    MEAN_MINUS,
    METRICS,
    ONE_MINUS_NEXT,
    dims,
    enabled_metrics,
)

# Counts of what was measured, kept whatever the metrics.
_BOOKKEEPING = ("tokens", "sequences", "batches", "skipped_batches", "skipped_tokens")


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

    ``loss_blocks``: number of skipped blocks measured by the loss ablation (0: off). ``options``: the
    other calibrate options that turn metrics on (``taylor=True``: first-order Taylor sums).
    """

    def __init__(self, num_layers: int, loss_blocks: int = 0, **options: bool):
        z = lambda shape=(): torch.zeros(shape, dtype=torch.float64)
        window = num_layers - loss_blocks + 1 if loss_blocks else 1
        self.metrics = enabled_metrics({**options, "loss_ablation": bool(loss_blocks)})
        self.sums: dict[str, torch.Tensor] = {}
        # sum key -> (which boundary statistics it adds, the BoundaryStats field); counts add weight_sum
        self.per_batch: dict[str, tuple[str, str]] = {}
        for metric in self.metrics:
            acc = metric.accumulate
            if acc.sum is not None:
                self.sums[acc.sum] = z(dims(metric.shape, num_layers, window))
            if acc.count is not None:
                self.sums[acc.count] = z()
            if acc.needs in (ALL_TOKENS, LAST_TOKEN) and acc.stat is not None:
                self.per_batch[acc.sum] = (acc.needs, acc.stat)
                self.per_batch[acc.count] = (acc.needs, "weight_sum")
        self.sums.update({key: z() for key in _BOOKKEEPING})
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
        for key, (needs, field) in self.per_batch.items():
            s[key] += getattr(stats if needs == ALL_TOKENS else last_stats, field).cpu()
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
    """The reported statistics (plain lists, in schema order) from summed accumulators.

    A metric is reported when its sums are there (it was enabled); ``FROM_WEIGHTS`` metrics are not
    summed and are the runner's to add.
    """
    if float(sums["weight_sum"]) <= 0:
        raise FastpruneError("no tokens were measured (empty corpus, or every batch was skipped)")
    values: dict[str, torch.Tensor] = {}
    for metric in METRICS:
        acc = metric.accumulate
        if acc.reduce in (MEAN, MEAN_MINUS) and acc.sum in sums:
            value = sums[acc.sum] / float(sums[acc.count])
            values[metric.name] = value - values[acc.source] if acc.reduce == MEAN_MINUS else value
        elif acc.reduce == ONE_MINUS_NEXT and acc.source in values:
            similarity = values[acc.source]
            values[metric.name] = 1.0 - torch.diagonal(similarity, offset=1)
    return {name: value.item() if value.ndim == 0 else value.tolist() for name, value in values.items()}
