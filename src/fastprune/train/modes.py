"""What is trained: every weight (``full``), the last k decoder layers and the LM head (``partial``), LoRA
adapters on every linear projection (``lora``), or LoRA on a 4-bit NF4 base (``qlora``: bitsandbytes, on CPU
with fp32 compute or on a GPU with bf16 compute)."""

from __future__ import annotations

import importlib.util
import math
import warnings
import zlib
from dataclasses import dataclass, field

import torch
from torch import nn

from fastprune.errors import FastpruneError
from fastprune.models.devices import auto_dtype
from fastprune.train.config import MODES  # the --mode choices: one list


@dataclass
class ModeSetup:
    mode: str
    model: nn.Module  # what the loop calls: the HF model, or the PeftModel wrapping it
    layers: nn.ModuleList  # the decoder layers (same modules before and after peft wrapping)
    trainable: int
    total: int
    first_trained_layer: int  # backward stops below this decoder layer (0 for full and LoRA)
    notes: list[str] = field(default_factory=list)

    @property
    def is_peft(self) -> bool:
        return self.mode in ("lora", "qlora")


def check_qlora_available(world_size: int = 1) -> None:
    """Fail with what is missing: QLoRA needs bitsandbytes (its NF4 kernels run on CPU and CUDA)."""
    if importlib.util.find_spec("bitsandbytes") is None:
        raise FastpruneError("--mode qlora needs the bitsandbytes package (pip install 'fastprune[qlora]' or "
                             "pip install bitsandbytes); without it use --mode lora (same adapters, unquantised base)")
    if world_size > 1:
        raise FastpruneError("--mode qlora runs in one process (a 4-bit base does not shard with FSDP2 here); "
                             "use --mode lora under torchrun")


def qlora_quantization_config(device: torch.device):
    """The paper's QLoRA base: NF4 4-bit weights with double quantisation; compute in bf16 on a GPU and in fp32
    on CPU (where bf16 matmuls are slow or emulated)."""
    from transformers import BitsAndBytesConfig

    compute = auto_dtype(device)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute)


def untie_lm_head(model: nn.Module) -> bool:
    """Give the LM head its own copy of the tied embedding matrix; True when they were tied."""
    head, emb = model.get_output_embeddings(), model.get_input_embeddings()
    if head is None or head.weight is not emb.weight:
        return False
    head.weight = nn.Parameter(emb.weight.detach().clone())
    for cfg in {id(c): c for c in (model.config, model.config.get_text_config())}.values():
        cfg.tie_word_embeddings = False
    return True


def _count(model: nn.Module) -> tuple[int, int]:
    seen, trainable, total = set(), 0, 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total


def is_lora_param(name: str) -> bool:
    return ".lora_A." in name or ".lora_B." in name


def lora_init(name: str, shape: tuple, dtype: torch.dtype, seed: int) -> torch.Tensor:
    """The initial value of LoRA parameter ``name``: peft's default (A kaiming-uniform with a=sqrt(5), B zero),
    drawn from a generator seeded by ``seed`` and the name. So it is the same however the model is built (on
    meta or not), in whatever order, and on every rank whatever the world size."""
    full = torch.zeros(shape, dtype=torch.float32)
    if ".lora_A." in name:
        gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
        nn.init.kaiming_uniform_(full, a=math.sqrt(5), generator=gen)
    return full.to(dtype)


def prepare(model: nn.Module, layers: nn.ModuleList, mode: str, last_k: int = 4, lora_r: int = 16,
            lora_alpha: int = 32, lora_dropout: float = 0.05, seed: int = 0) -> ModeSetup:
    """Set ``requires_grad`` (and wrap with peft for LoRA, adapters from ``lora_init``) for ``mode``; the model
    is put in train mode."""
    if mode not in MODES:
        raise FastpruneError(f"unknown --mode {mode!r}; use one of {', '.join(MODES)}")
    n = len(layers)
    notes: list[str] = []
    first = 0
    if mode == "full":
        for p in model.parameters():
            p.requires_grad_(True)
    elif mode == "partial":
        if not 1 <= last_k <= n:
            raise FastpruneError(f"--last-k {last_k} is out of range: the model has {n} decoder layers, "
                                 f"so use 1..{n}")
        if untie_lm_head(model):
            # Training the shared matrix would also move the input embeddings, which partial training is
            # meant to keep fixed; the checkpoint grows by one vocab x hidden matrix instead.
            notes.append("the LM head was tied to the input embeddings; it was untied so only the head "
                         "trains (the saved checkpoint has tie_word_embeddings=false and one more matrix)")
        for p in model.parameters():
            p.requires_grad_(False)
        first = n - last_k
        for layer in list(layers)[first:]:
            for p in layer.parameters():
                p.requires_grad_(True)
        model.get_output_embeddings().weight.requires_grad_(True)
    else:
        model = wrap_lora(model, lora_r, lora_alpha, lora_dropout, quantized=mode == "qlora")
        with torch.no_grad():
            for name, p in model.named_parameters():
                if is_lora_param(name) and not p.is_meta:  # on meta: filled after sharding (sharded_load)
                    p.copy_(lora_init(name, tuple(p.shape), p.dtype, seed))
    model.train()
    trainable, total = _count(model)
    return ModeSetup(mode, model, layers, trainable, total, first, notes)


def wrap_lora(model: nn.Module, r: int, alpha: int, dropout: float, quantized: bool = False) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    if r < 1 or alpha <= 0 or not 0.0 <= dropout < 1.0:
        raise FastpruneError(f"LoRA needs --lora-r >= 1, --lora-alpha > 0 and 0 <= --lora-dropout < 1 "
                             f"(got r={r}, alpha={alpha}, dropout={dropout})")
    if quantized:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    # "all-linear": every nn.Linear in the decoder (attention and MLP projections), never the LM head.
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules="all-linear",
                        bias="none", task_type="CAUSAL_LM")
    with warnings.catch_warnings():
        # peft still calls transformers' deprecated is_gradient_checkpointing; nothing for users to act on.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, config)


def merged(setup: ModeSetup) -> nn.Module:
    """The plain HF model to save: LoRA folded into the base weights (``merge_and_unload``)."""
    if not setup.is_peft:
        return setup.model
    return setup.model.merge_and_unload()
