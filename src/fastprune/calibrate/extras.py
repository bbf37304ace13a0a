"""The optional loss-based and weight-based importance measures: loss ablation, Taylor, magnitude.

Loss ablation never pays ``L`` full forwards: the forward that feeds the statistics also records every
layer's input (``LayerRunner.capture``), and skipping block ``[l, l + n)`` resumes from the recorded input
of layer ``l`` at layer ``l + n``, so each candidate costs only the layers after it plus the LM head.
"""

from __future__ import annotations

import torch

from fastprune.models.adapter import ArchitectureAdapter


def ablation_blocks(num_layers: int, block: int) -> int:
    """Number of contiguous ``block``-layer windows a loss ablation measures."""
    return num_layers - block + 1


def loss_ablation(
    runner, trace, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, block: int
) -> dict[str, torch.Tensor]:
    """Summed next-token loss of the full model and of the model without each block ``[l, l + block)``.

    Returns float64 sums keyed like the accumulators: ``loss_base_sum``, ``loss_skip_sum`` ``[L-block+1]``
    and ``loss_count`` (the number of scored targets, the same for every candidate).
    """
    base, count = runner.lm_loss(trace.final, input_ids, attention_mask, reduction="sum")
    n = runner.num_layers
    skips = torch.zeros(ablation_blocks(n, block), dtype=torch.float64)
    for start in range(ablation_blocks(n, block)):
        hidden = runner.run_layers(trace, start + block, trace.layer_inputs[start])
        skips[start] = runner.lm_loss(hidden, input_ids, attention_mask, reduction="sum")[0]
    f = lambda x: torch.tensor(float(x), dtype=torch.float64)
    return {"loss_base_sum": f(base), "loss_skip_sum": skips, "loss_count": f(count)}


def summed_lm_loss(
    logits: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """Sum of next-token cross-entropy over targets where both positions are real tokens (differentiable)."""
    valid = attention_mask[:, 1:].bool() & attention_mask[:, :-1].bool()
    logits = logits[:, :-1][valid].float()
    return torch.nn.functional.cross_entropy(logits, input_ids[:, 1:][valid], reduction="sum")


def taylor_scores(adapter: ArchitectureAdapter) -> torch.Tensor:
    """Per layer, sum over its weights of ``|w * dL/dw|`` from the gradients left by the last backward."""
    out = torch.zeros(adapter.num_layers, dtype=torch.float64)
    with torch.no_grad():
        for index, layer in enumerate(adapter.layers):
            total = torch.zeros((), dtype=torch.float64, device=next(layer.parameters()).device)
            for param in layer.parameters():
                if param.grad is not None:
                    total += (param.double() * param.grad.double()).abs().sum()
            out[index] = total.cpu()
    return out


def layer_magnitudes(adapter: ArchitectureAdapter) -> list[float]:
    """L2 norm of all weights of each layer (a data-free baseline importance)."""
    with torch.no_grad():
        return [
            float(torch.sqrt(sum((p.double() ** 2).sum() for p in layer.parameters())))
            for layer in adapter.layers
        ]


# Per-batch sums read off the gradients of one backward (schema needs BACKWARD): sum key -> adapter -> [L].
GRADIENT_SUMS = {"taylor_sum": taylor_scores}
# Metrics read off the weights once at the end (schema reduce FROM_WEIGHTS): name -> adapter -> values.
WEIGHT_METRICS = {"magnitude": layer_magnitudes}
