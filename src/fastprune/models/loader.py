"""Load any model spec into a ``LoadedModel``: the HF model, its tokenizer and its adapter."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from fastprune.errors import FastpruneError
from fastprune.models.adapter import ArchitectureAdapter, adapter_for
from fastprune.models.devices import resolve_device, resolve_dtype
from fastprune.models.spec import ModelSpec, parse_model_spec


@dataclass
class LoadedModel:
    model: nn.Module
    tokenizer: object | None
    spec: ModelSpec
    adapter: ArchitectureAdapter = field(init=False)
    path: Path | None = None  # on-disk checkpoint, when there is one

    def __post_init__(self):
        self.adapter = adapter_for(self.model)

    @property
    def name(self) -> str:
        return self.spec.raw or self.spec.value

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype


def unwrap_model(model_or_loaded, what: str = "this") -> nn.Module:
    """The torch model of a ``LoadedModel`` (or of anything holding one as ``.model``), or the model itself.

    An HF CausalLM has a ``.model`` attribute too (its base model), so a torch module is never unwrapped.
    ``what`` names the caller in the error for anything else.
    """
    if isinstance(model_or_loaded, nn.Module):
        return model_or_loaded
    inner = getattr(model_or_loaded, "model", None)
    if isinstance(inner, nn.Module):
        return inner
    raise FastpruneError(f"{what} needs a torch model or LoadedModel, got {type(model_or_loaded).__name__}")


def random_config(name_or_path: str):
    """The ``transformers`` config for ``random:NAME`` (a shipped config) or a config.json path."""
    from transformers import AutoConfig

    if name_or_path.endswith(".json"):
        data = json.loads(Path(name_or_path).read_text())
    else:
        data = json.loads((resources.files("fastprune.models") / "configs" / f"{name_or_path}.json").read_text())
    model_type = data.pop("model_type", None)
    if model_type is None:
        raise FastpruneError(f"config {name_or_path} has no model_type")
    try:
        return AutoConfig.for_model(model_type, **data)
    except ValueError as exc:
        raise FastpruneError(f"config {name_or_path}: unknown architecture {model_type!r} ({exc})") from exc


def load_model(
    spec: str | ModelSpec,
    dtype: str | torch.dtype | None = "auto",
    device: str | torch.device | None = "cpu",
    trust_remote_code: bool = False,
    seed: int = 0,
) -> LoadedModel:
    """Load ``spec`` (see ``fastprune.models.spec``) in eval mode on ``device`` with ``dtype``."""
    if isinstance(spec, str):
        spec = parse_model_spec(spec)
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    if spec.kind in ("embedded", "local", "hub", "gguf"):
        path = checkpoint_path(spec)
        model, tokenizer = _load_pretrained(str(path), dt, dev, trust_remote_code, hub=spec.kind == "hub")
        return LoadedModel(model, tokenizer, spec, path=Path(path) if spec.kind != "hub" else None)
    from fastprune.models.tiny import byte_tokenizer, tiny_model

    if spec.kind == "tiny":
        model = tiny_model(spec.value, num_layers=spec.layers or 6, seed=seed, dtype=dt)
        return LoadedModel(model.to(dev), byte_tokenizer(), spec)
    if spec.kind == "random":
        from transformers import AutoModelForCausalLM

        config = random_config(spec.value)
        torch.manual_seed(seed)
        with dev:
            model = AutoModelForCausalLM.from_config(config, dtype=dt)
        return LoadedModel(model.eval(), byte_tokenizer(), spec)
    raise FastpruneError(f"unsupported model spec kind {spec.kind}")


def checkpoint_path(spec: ModelSpec) -> str | Path:
    """The HF checkpoint (dir or hub id) a spec loads from; the embedded model and GGUF files are
    de-quantised once into a cached checkpoint (``fastprune.models.gguf.cached_gguf_checkpoint``)."""
    if spec.kind == "embedded":
        from fastprune.models.embedded import ensure_embedded_checkpoint

        return ensure_embedded_checkpoint()
    if spec.kind == "gguf":
        from fastprune.models.gguf import cached_gguf_checkpoint

        return cached_gguf_checkpoint(spec.value)
    return spec.value


def _load_pretrained(path: str, dtype, device, trust_remote_code: bool, hub: bool):
    from transformers import AutoModelForCausalLM

    from fastprune.models.checkpoint_files import check_checkpoint, check_load_report, load_error

    files = None if hub else check_checkpoint(path, trust_remote_code)
    try:
        # Mismatched shapes come back in the report (and are refused below with the file named), not raised.
        model, report = AutoModelForCausalLM.from_pretrained(
            path, dtype=dtype, trust_remote_code=trust_remote_code, output_loading_info=True,
            ignore_mismatched_sizes=True)
    except OSError as exc:
        where = "the hub (is there a network?)" if hub else path
        raise FastpruneError(f"cannot load model {path!r} from {where}: {exc}".splitlines()[0]) from exc
    except (ValueError, RuntimeError, KeyError, EOFError) as exc:
        raise load_error(path, exc) from exc
    check_load_report(path, files, report)
    return model.to(device).eval(), checkpoint_tokenizer(path, trust_remote_code)


def checkpoint_tokenizer(path, trust_remote_code: bool = False):
    """The tokenizer saved next to a checkpoint, or None when there is none (a model can run without)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError):
        return None
