"""Loading the model to train and writing the finished one as a plain HF checkpoint.

The output never needs peft: LoRA is merged into the base weights first. Under FSDP2 it is streamed out one
gathered parameter at a time (``export``), so no rank holds the whole model.
"""

from __future__ import annotations

import copy
import json
import shutil
from contextlib import ExitStack
from pathlib import Path

import torch
from torch import nn

from fastprune.errors import FastpruneError
from fastprune.models.devices import DTYPES, parse_dtype
from fastprune.train.config import TrainConfig
from fastprune.train.distributed import DistEnv
from fastprune.train.export import stream_plain_checkpoint
from fastprune.train.modes import ModeSetup, check_qlora_available, merged, qlora_quantization_config, wrap_lora
from fastprune.utils_io import atomic_directory, atomic_write_json


def master_dtype(cfg: TrainConfig) -> torch.dtype:
    """The dtype the trained weights are kept in: ``--dtype``, float32 for auto."""
    return torch.float32 if cfg.dtype == "auto" else parse_dtype(cfg.dtype, "--dtype")


def load_for_training(cfg: TrainConfig, env: DistEnv):
    """``LoadedModel`` on CPU with master weights in ``cfg.dtype`` (float32 for auto)."""
    from fastprune.models import load_model

    if cfg.mode == "qlora":
        check_qlora_available(env.world)
        return _load_quantized(cfg, env)
    dtype = master_dtype(cfg)
    # Loaded on CPU: FSDP2 moves each shard to the GPU itself, and peft wraps before any move.
    return load_model(cfg.model, dtype=dtype, device="cpu", seed=cfg.seed, trust_remote_code=cfg.trust_remote_code)


def _load_quantized(cfg: TrainConfig, env: DistEnv):
    from transformers import AutoModelForCausalLM

    from fastprune.models import LoadedModel, parse_model_spec
    from fastprune.models.loader import checkpoint_path

    spec = parse_model_spec(cfg.model)
    if spec.kind not in ("embedded", "local", "hub", "gguf"):
        raise FastpruneError(f"--mode qlora quantises a saved checkpoint; {cfg.model!r} is a {spec.kind} spec. "
                             "Save it with 'fastprune prune' first, or use --mode lora")
    path = str(checkpoint_path(spec))
    from transformers import AutoTokenizer

    quant = qlora_quantization_config(env.device)
    where = (env.device.index or 0) if env.device.type == "cuda" else "cpu"
    model = AutoModelForCausalLM.from_pretrained(path, quantization_config=quant, dtype=quant.bnb_4bit_compute_dtype,
                                                 device_map={"": where}, trust_remote_code=cfg.trust_remote_code)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=cfg.trust_remote_code)
    return LoadedModel(model, tokenizer, spec, path=Path(path) if spec.kind != "hub" else None)


def source_dtype(loaded) -> torch.dtype | None:
    """The dtype recorded in the source checkpoint's config.json, when the model came from one."""
    if loaded.path is None or not (Path(loaded.path) / "config.json").is_file():
        return None
    raw = json.loads((Path(loaded.path) / "config.json").read_text())
    name = raw.get("dtype") or raw.get("torch_dtype")
    return DTYPES.get(name) if isinstance(name, str) else None


def _qlora_plain_model(setup: ModeSetup, cfg: TrainConfig, lora_kwargs: dict, dtype: torch.dtype) -> nn.Module:
    """Merging into the 4-bit base would re-quantise the result; instead the trained adapters are applied to
    the unquantised base (``dtype``, CPU) and merged there, which is what the recovered model should be."""
    from peft import get_peft_model_state_dict, set_peft_model_state_dict
    from transformers import AutoModelForCausalLM

    from fastprune.models import parse_model_spec
    from fastprune.models.loader import checkpoint_path

    adapters = {k: v.detach().cpu() for k, v in get_peft_model_state_dict(setup.model).items()}
    path = str(checkpoint_path(parse_model_spec(cfg.model)))
    base = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, trust_remote_code=cfg.trust_remote_code)
    peft_model = wrap_lora(base, **lora_kwargs)
    set_peft_model_state_dict(peft_model, adapters)
    return merged(ModeSetup("lora", peft_model, setup.layers, 0, 0, 0))


def save_final(setup: ModeSetup, base: nn.Module, tokenizer, cfg: TrainConfig, env: DistEnv,
               save_dtype: torch.dtype, summary: dict) -> None:
    """Write OUT (collective under FSDP2): config, safetensors, tokenizer, generation config, the step log
    and a summary; all-or-nothing through a temp directory and a rename."""
    lora_kwargs = {"r": cfg.lora_r, "alpha": cfg.lora_alpha, "dropout": cfg.lora_dropout}
    streamed = env.sharded and setup.mode != "qlora"
    plain = None
    if setup.mode == "qlora":
        plain = _qlora_plain_model(setup, cfg, lora_kwargs, save_dtype) if env.is_main else None
    elif not env.sharded:
        plain = merged(setup)
    with ExitStack() as stack:
        tmp = stack.enter_context(atomic_directory(cfg.out_path, overwrite=cfg.overwrite)) if env.is_main else None
        if streamed:
            stream_plain_checkpoint(setup.model, env, save_dtype, tmp)
        if env.is_main:
            if streamed:
                config = copy.deepcopy(base.config)
                config.dtype = save_dtype
                config.use_cache = True
                config.save_pretrained(tmp)
                if getattr(base, "generation_config", None) is not None:
                    base.generation_config.save_pretrained(tmp)
            else:
                plain = plain.to("cpu", save_dtype).eval()
                plain.config.use_cache = True
                plain.save_pretrained(tmp, safe_serialization=True)
            if tokenizer is not None:
                tokenizer.save_pretrained(tmp)
            log = cfg.state_dir / "train_log.jsonl"
            if log.is_file():
                shutil.copyfile(log, tmp / "train_log.jsonl")
            atomic_write_json(tmp / "train_summary.json", summary)
    if env.is_main and not cfg.keep_state:
        shutil.rmtree(cfg.state_dir, ignore_errors=True)
    env.barrier()
