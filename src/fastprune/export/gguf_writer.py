"""A HF causal LM (pruned or not) as a GGUF file in llama.cpp's layout, with the ``gguf`` package.

What llama.cpp's ``convert_hf_to_gguf.py`` does per family, and transformers' GGUF loader undoes:
- Llama and Mistral are written as the ``llama`` architecture with q/k rows permuted for llama.cpp's
  interleaved rope (``LlamaTensorProcessor`` reverses it); Mistral's sliding window is written as
  ``llama.attention.sliding_window``, which ``fastprune.models.gguf`` reads back as Mistral;
- Gemma 2/3 RMSNorm weights are stored as ``1 + w`` (``Gemma2TensorProcessor`` subtracts the one);
- a tied LM head is not written (``output.weight`` absent means tied);
- 1-D tensors (norms, biases) stay F32, matrices take the requested type (Q8_0 needs rows that are a
  multiple of 32; other rows fall back to F16, as llama.cpp's converter does).
Tensor names come from ``gguf.get_tensor_name_map``: a weight it cannot name is an error, not skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fastprune.errors import FastpruneError
from fastprune.export.gguf_tokenizer import tokenizer_metadata, write_tokenizer

TYPES = ("f32", "f16", "q8_0")


@dataclass(frozen=True)
class GgufLayout:
    arch: str  # gguf.MODEL_ARCH member name
    permute_qk: bool = False
    norm_plus_one: bool = False


# HF model_type -> how llama.cpp lays the family out
LAYOUTS = {
    "llama": GgufLayout("LLAMA", permute_qk=True),
    "mistral": GgufLayout("LLAMA", permute_qk=True),
    "qwen2": GgufLayout("QWEN2"),
    "qwen3": GgufLayout("QWEN3"),
    "gemma2": GgufLayout("GEMMA2", norm_plus_one=True),
    "gemma3_text": GgufLayout("GEMMA3", norm_plus_one=True),
    "phi3": GgufLayout("PHI3"),
}


def layout_for(config) -> GgufLayout:
    model_type = config.model_type
    if model_type not in LAYOUTS:
        raise FastpruneError(
            f"GGUF export supports {', '.join(sorted(LAYOUTS))}; this checkpoint is {model_type!r}"
        )
    return LAYOUTS[model_type]


def write_gguf(model, tokenizer, path: str | Path, qtype: str = "f32", name: str | None = None) -> dict:
    """Write ``model`` (+ ``tokenizer``) to ``path`` as GGUF; return ``{tensor name: ggml type}``."""
    import gguf

    if qtype not in TYPES:
        raise FastpruneError(f"unknown GGUF type {qtype!r}; choose one of {', '.join(TYPES)}")
    if tokenizer is None:
        raise FastpruneError("GGUF export needs the checkpoint's tokenizer (none was found next to it)")
    config = model.config
    layout = layout_for(config)
    arch = getattr(gguf.MODEL_ARCH, layout.arch)
    writer = gguf.GGUFWriter(str(path), gguf.MODEL_ARCH_NAMES[arch])
    try:
        _write_metadata(writer, config, qtype, name)
        write_tokenizer(writer, tokenizer_metadata(tokenizer, config.vocab_size))
        types = _add_tensors(writer, model, arch, layout, qtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    return types


def _file_type(qtype: str):
    import gguf

    return {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
            "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[qtype]


def _rope_theta(config, layer_type: str | None = None) -> float | None:
    rope = getattr(config, "rope_parameters", None) or {}
    if layer_type is not None and isinstance(rope.get(layer_type), dict):
        rope = rope[layer_type]
    elif "full_attention" in rope and isinstance(rope["full_attention"], dict):
        rope = rope["full_attention"]
    theta = rope.get("rope_theta", getattr(config, "rope_theta", None))
    return float(theta) if theta is not None else None


def _write_metadata(writer, config, qtype: str, name: str | None) -> None:
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    writer.add_name(name or f"{config.model_type}-fastprune")
    writer.add_file_type(_file_type(qtype))
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(getattr(config, "num_key_value_heads", None) or heads)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    rotary = int(head_dim * (getattr(config, "partial_rotary_factor", None) or 1.0))
    writer.add_rope_dimension_count(rotary)
    if (theta := _rope_theta(config)) is not None:
        writer.add_rope_freq_base(theta)
    if config.model_type in ("gemma2", "gemma3_text", "mistral") and getattr(config, "sliding_window", None):
        writer.add_sliding_window(int(config.sliding_window))
    layer_types = getattr(config, "layer_types", None)
    if config.model_type in ("gemma2", "gemma3_text") and layer_types:
        # per pruned layer: true = sliding window, so the depth and pattern stay consistent after pruning
        writer.add_sliding_window_pattern([kind == "sliding_attention" for kind in layer_types])
    if config.model_type == "gemma3_text" and (swa := _rope_theta(config, "sliding_attention")) is not None:
        writer.add_rope_freq_base_swa(swa)
    for attr, add in (("attn_logit_softcapping", writer.add_attn_logit_softcapping),
                      ("final_logit_softcapping", writer.add_final_logit_softcapping)):
        if getattr(config, attr, None) is not None:
            add(float(getattr(config, attr)))
    if getattr(config, "query_pre_attn_scalar", None):
        writer.add_attention_scale(float(config.query_pre_attn_scalar) ** -0.5)


def _permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    # llama.cpp's convert_hf_to_gguf LlamaModel.permute: HF's half-split rope -> interleaved pairs
    return weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(
        weights.shape
    )


def _add_tensors(writer, model, arch, layout: GgufLayout, qtype: str) -> dict:
    import gguf

    config = model.config
    name_map = gguf.get_tensor_name_map(arch, config.num_hidden_layers)
    tied = bool(config.get_text_config().tie_word_embeddings)
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    types = {}
    for hf_name, tensor in model.state_dict().items():
        if tied and hf_name == "lm_head.weight":
            continue
        base, _, suffix = hf_name.rpartition(".")
        gguf_base = name_map.get_name(base)
        if gguf_base is None:
            raise FastpruneError(f"no GGUF tensor name for {hf_name} ({config.model_type}); cannot export it")
        gguf_name = f"{gguf_base}.{suffix}"
        data = tensor.detach().to(torch.float32).cpu().numpy()
        if layout.permute_qk and gguf_base.endswith(".attn_q"):
            data = _permute(data, heads)
        elif layout.permute_qk and gguf_base.endswith(".attn_k"):
            data = _permute(data, kv_heads)
        if layout.norm_plus_one and gguf_name.endswith("norm.weight"):
            data = data + 1.0
        types[gguf_name] = _add_one(writer, gguf_name, np.ascontiguousarray(data), qtype)
    return types


def tensor_type(shape: tuple[int, ...], qtype: str):
    """The ggml type a tensor of ``shape`` is stored in for the requested ``qtype``."""
    import gguf

    q = gguf.GGMLQuantizationType
    if len(shape) < 2 or qtype == "f32":
        return q.F32
    if qtype == "q8_0" and shape[-1] % gguf.GGML_QUANT_SIZES[q.Q8_0][0] == 0:
        return q.Q8_0
    return q.F16


def stored_values(tensor: torch.Tensor, qtype: str) -> torch.Tensor:
    """What a reader gets back for ``tensor`` once written as ``qtype``: the exact reference for checks."""
    import gguf

    data = tensor.detach().to(torch.float32).cpu().numpy()
    target = tensor_type(data.shape, qtype)
    back = gguf.quants.dequantize(gguf.quants.quantize(data, target), target)
    return torch.from_numpy(np.ascontiguousarray(back, dtype=np.float32)).reshape(tensor.shape)


def _add_one(writer, name: str, data: np.ndarray, qtype: str) -> str:
    import gguf

    target = tensor_type(data.shape, qtype)
    packed = gguf.quants.quantize(data.astype(np.float32), target)
    writer.add_tensor(name, packed, raw_dtype=target)
    return target.name
