"""What a pruning removes: parameters, per-token FLOPs, KV-cache bytes, ideal speedup (``--dry-run``)."""

from __future__ import annotations

from fastprune.models.adapter import adapter_for
from fastprune.models.info import kv_bytes_per_token


def pruning_summary(model, removed: list[int], strategy: str) -> dict:
    """Accounting for removing ``removed`` from ``model`` (computed on the unpruned model).

    FLOPs counted: 2 x parameters per token for the weight matmuls of the decoder layers and the LM head
    (one multiply-add per weight). Not counted: the embedding lookup (no FLOPs), norms and activations
    (O(hidden) per token), and attention over the context (about 4 x context x heads x head_dim per layer
    per token, which grows with context length and shrinks in the same proportion as the layer count).
    """
    adapter = adapter_for(model)
    n_layers = adapter.num_layers
    per_layer = [adapter.layer_parameter_count(i) for i in range(n_layers)]
    unique = {id(p): p for p in model.parameters()}
    total = sum(p.numel() for p in unique.values())
    head = adapter.lm_head()
    head_params = head.weight.numel() if head is not None else 0
    removed_params = sum(per_layer[i] for i in removed)
    flops_total = 2 * (sum(per_layer) + head_params)
    flops_removed = 2 * removed_params
    dtype = next(model.parameters()).dtype
    kept = n_layers - len(removed)
    return {
        "strategy": strategy,
        "removed_layers": list(removed),
        "num_layers_before": n_layers,
        "num_layers_after": kept,
        "parameters_before": total,
        "parameters_removed": removed_params,
        "parameters_removed_fraction": removed_params / total if total else 0.0,
        "forward_flops_per_token_before": flops_total,
        "forward_flops_per_token_removed": flops_removed,
        "forward_flops_removed_fraction": flops_removed / flops_total if flops_total else 0.0,
        "flops_counted": "2 x params of decoder-layer and LM-head matmuls; no attention-over-context term",
        "kv_cache_bytes_per_token_removed": kv_bytes_per_token(model.config, dtype, num_layers=len(removed)),
        "ideal_speedup_layers": n_layers / kept,
    }


def format_summary(summary: dict) -> str:
    millions = summary["parameters_removed"] / 1e6
    gflops = summary["forward_flops_per_token_removed"] / 1e9
    lines = [
        f"strategy:         {summary['strategy']}",
        f"remove layers:    {summary['removed_layers']} "
        f"({summary['num_layers_before']} -> {summary['num_layers_after']} layers)",
        f"parameters:       -{millions:.3f} M ({100 * summary['parameters_removed_fraction']:.1f}% of "
        f"{summary['parameters_before'] / 1e6:.3f} M)",
        f"forward FLOPs:    -{gflops:.4f} GFLOP/token "
        f"({100 * summary['forward_flops_removed_fraction']:.1f}%; "
        "2 x matmul params, attention over context not counted)",
        f"KV cache:         -{summary['kv_cache_bytes_per_token_removed']} bytes/token",
        f"ideal speedup:    {summary['ideal_speedup_layers']:.3f}x (L/(L-n), decoder layers only)",
    ]
    return "\n".join(lines)
