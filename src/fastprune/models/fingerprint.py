"""A small fingerprint identifying a model's weights, so files computed on one model are not used on another.

Calibration writes it into ``importance.json``; pruning recomputes it on the model being pruned and refuses
a mismatch (a 30-layer importance file applied to another 30-layer model would pick meaningless layers).

The weight hash samples a few thousand evenly spaced values from the embeddings, the largest matrix of the
first, middle and last decoder layers and the final norm, rounded to bfloat16 first: the same checkpoint
loaded in float32 or bfloat16 (or from fp16 safetensors) gives the same fingerprint, while retraining or
another seed does not. It is an identity check, not a security hash.
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn

from fastprune.models.adapter import adapter_for
from fastprune.models.loader import unwrap_model

FINGERPRINT_VERSION = 2  # 2: integer sampling indices (1 overflowed past 2^24 elements)
_SAMPLES_PER_TENSOR = 4096


def _sample(tensor: torch.Tensor) -> bytes:
    flat = tensor.detach().reshape(-1)
    n = flat.numel()
    if n > _SAMPLES_PER_TENSOR:
        # Integer arithmetic: float32 linspace rounds indices past the end for tensors over 2^24 elements.
        steps = torch.arange(_SAMPLES_PER_TENSOR, dtype=torch.int64, device=flat.device)
        index = steps * (n - 1) // (_SAMPLES_PER_TENSOR - 1)
        flat = flat[index]
    values = flat.to(torch.bfloat16).to(torch.float32).cpu().contiguous()
    return values.numpy().tobytes()


def _largest_parameter(module: nn.Module) -> torch.Tensor | None:
    # The largest matrix (an MLP projection) changes under any finetuning; norms often do not. Ties by name.
    named = sorted(module.named_parameters(), key=lambda kv: (-kv[1].numel(), kv[0]))
    return named[0][1] if named else None


def model_fingerprint(model) -> dict:
    """Architecture facts plus a short hash of sampled weights; JSON-serialisable.

    ``model`` is an HF causal LM or a ``LoadedModel``. Keys: ``version``, ``architecture``, ``model_type``,
    ``num_layers``, ``hidden_size``, ``vocab_size``, ``weights_sha256`` (16 hex digits).
    """
    model = unwrap_model(model, "model_fingerprint")
    adapter = adapter_for(model)
    cfg = adapter.text_config
    layers = adapter.layers
    n = len(layers)
    picks = [("embeddings", adapter.embeddings().weight)]
    for index in sorted({0, n // 2, n - 1}):
        param = _largest_parameter(layers[index])
        if param is not None:
            picks.append((f"layer{index}", param))
    norm = adapter.final_norm
    if norm is not None and (param := _largest_parameter(norm)) is not None:
        picks.append(("final_norm", param))
    digest = hashlib.sha256()
    for name, tensor in picks:
        digest.update(f"{name}:{tuple(tensor.shape)}:".encode())
        digest.update(_sample(tensor))
    return {
        "version": FINGERPRINT_VERSION,
        "architecture": adapter.architecture,
        "model_type": getattr(cfg, "model_type", None),
        "num_layers": n,
        "hidden_size": getattr(cfg, "hidden_size", None),
        "vocab_size": getattr(cfg, "vocab_size", None),
        "weights_sha256": digest.hexdigest()[:16],
    }


def fingerprint_mismatches(recorded: dict, current: dict) -> list[str]:
    """Human-readable differences between two fingerprints, comparing only keys both have.

    Files from older or other writers may carry fewer keys; a hash computed by another fingerprint version
    is not compared.
    """
    problems = []
    same_version = recorded.get("version") == current.get("version")
    for key, value in recorded.items():
        if key == "version" or key not in current or value is None or current[key] is None:
            continue
        if key == "weights_sha256" and not same_version:
            continue
        if value != current[key]:
            problems.append(f"{key}: file has {value!r}, model has {current[key]!r}")
    return problems
