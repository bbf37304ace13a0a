"""Training FLOPs per token, hardware peaks, and the JSONL step log.

FLOPs follow the usual 6N rule split into its parts, so frozen weights are not counted as trained:
forward 2 FLOPs per weight; backward 2 per weight for the input gradient (only where gradients must flow,
i.e. from the first trained layer up) and 2 per *trained* weight for the weight gradient. Attention adds
the PaLM term (2 FLOPs x 2 matmuls x layers x context x width per token, forward; twice that backward).
Embedding lookups and the final norm are not matmuls and are left out; the LM head is counted.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from torch import nn

from fastprune.data.jsonl import read_jsonl

# Dense (no sparsity) bf16 tensor-core peaks, FLOP/s, from vendor data sheets.
_GPU_PEAKS = {"H200": 989e12, "H100 SXM": 989e12, "H100 NVL": 835e12, "H100 PCIe": 756e12, "H100": 989e12,
              "A100": 312e12, "L40S": 362e12, "A10G": 70e12, "L4": 121e12, "4090": 165e12}


def flops_per_token(model: nn.Module, layers: nn.ModuleList, first_trained_layer: int, seq_len: float) -> float:
    """Estimated training FLOPs per token (see the module docstring); ``seq_len`` is the attention context
    (PaLM's convention counts the full length, not the causal half)."""
    emb = model.get_input_embeddings().weight
    layer_params = [sum(_numel(p) for p in layer.parameters()) for layer in layers]
    head = model.get_output_embeddings()
    head_params = head.weight.numel() if head is not None else emb.numel()
    # Weight gradients that are matmuls: trained layer weights (LoRA adapters live inside the layers) and a
    # trained head, tied or not. The embedding's own gradient is a scatter-add, and the final norm's is
    # elementwise: both left out like the lookup itself.
    trained = sum(p.numel() for layer in layers for p in layer.parameters() if p.requires_grad)
    head_weight = head.weight if head is not None else emb
    trained += head_params if head_weight.requires_grad else 0
    forward = 2 * (sum(layer_params) + head_params)
    input_grad = 2 * (sum(layer_params[first_trained_layer:]) + head_params)
    weight_grad = 2 * trained
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    heads = getattr(cfg, "num_attention_heads", 0)
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // max(heads, 1)
    width = heads * head_dim
    attn_fwd = 4 * len(layers) * seq_len * width
    attn_bwd = 2 * 4 * (len(layers) - first_trained_layer) * seq_len * width
    return float(forward + input_grad + weight_grad + attn_fwd + attn_bwd)


def _numel(p: torch.Tensor) -> int:
    """Weights in ``p``: a 4-bit bitsandbytes parameter stores two per byte, its quant state has the shape."""
    state = getattr(p, "quant_state", None)
    return int(state.shape.numel()) if state is not None else p.numel()


def gpu_peak_flops(device: torch.device) -> float | None:
    """bf16 dense peak of a known GPU, or None (MFU is then reported as null, not guessed)."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, peak in _GPU_PEAKS.items():
        if key in name:
            return peak
    return None


def measure_matmul_peak(device: torch.device, dtype: torch.dtype = torch.float32, size: int = 1024,
                        seconds: float = 1.0) -> float:
    """Achieved FLOP/s of a square matmul on ``device``: the honest 'peak' for CPU MFU, where no data-sheet
    number applies (it depends on cores, threads and what else is running)."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    _sync(device)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        n += 1
    _sync(device)
    return 2 * size**3 * n / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepLog:
    """Appends one JSON line per step; on resume, lines after the resumed step are dropped (those steps are
    run again and would otherwise appear twice)."""

    def __init__(self, path: str | Path, resume_step: int = 0, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled
        if not enabled:
            return
        from fastprune.utils_io import atomic_write_text

        kept = []
        if self.path.exists() and resume_step > 0:
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    if json.loads(line).get("step", 0) <= resume_step:
                        kept.append(line)
                except json.JSONDecodeError:
                    break  # a line cut by a kill: everything after it is redone
        atomic_write_text(self.path, "".join(line + "\n" for line in kept))

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()


def read_log(path: str | Path) -> list[dict]:
    return [record for _, record in read_jsonl(path)]
