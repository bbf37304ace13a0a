"""Check a local HF checkpoint's files before loading it, and name the broken file when loading fails.

transformers reports a truncated safetensors file as a bare ``SafetensorError`` with a traceback, a
config/weights shape mismatch as a ``RuntimeError`` pointing at a log report, and a tensor missing from
the weights not at all (it initialises it randomly). Every stage loads through ``load_model``, which calls
``check_checkpoint`` first and ``check_load_report`` after, so each of these becomes one
``FastpruneError`` naming the file, before any stage has written anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from fastprune.errors import FastpruneError

CONFIG = "config.json"
SAFETENSORS_INDEX = "model.safetensors.index.json"
_SINGLE_FILES = ("model.safetensors", "pytorch_model.bin")
_BIN_INDEX = "pytorch_model.bin.index.json"
_TOKENIZER_JSON_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


@dataclass
class CheckpointFiles:
    """What a checkpoint dir holds: its config and which weights file holds each tensor."""

    path: Path
    config: dict
    weights: list[Path]
    tensor_file: dict[str, Path] = field(default_factory=dict)  # safetensors only

    def where(self, tensor: str) -> str:
        file = self.tensor_file.get(tensor)
        if file is None and len(self.weights) == 1:
            file = self.weights[0]
        return str(file) if file is not None else f"the weights of {self.path}"


def read_json_file(path: Path, what: str) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FastpruneError(f"{path} not found: the checkpoint has no {what}") from None
    except UnicodeDecodeError:
        raise FastpruneError(f"{path} is not UTF-8 text: the {what} is corrupt") from None
    except json.JSONDecodeError as exc:
        raise FastpruneError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): the {what} is "
            "corrupt or truncated") from None
    except OSError as exc:
        raise FastpruneError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_config(path: Path, trust_remote_code: bool) -> dict:
    from transformers import CONFIG_MAPPING

    file = path / CONFIG
    config = read_json_file(file, "model config")
    if not isinstance(config, dict):
        raise FastpruneError(f"{file} holds a {type(config).__name__}, not a config object")
    model_type = config.get("model_type")
    if not model_type:
        raise FastpruneError(f"{file} has no 'model_type': not a transformers model config")
    if model_type not in CONFIG_MAPPING and not (trust_remote_code and config.get("auto_map")):
        hint = " (it ships its own code: pass --trust-remote-code)" if config.get("auto_map") else ""
        raise FastpruneError(
            f"{file}: unknown architecture {model_type!r}; this transformers does not know it{hint}")
    return config


def _weight_files(path: Path) -> tuple[list[Path], dict[str, Path]]:
    """The weights files of ``path`` (every shard an index names must exist) and tensor -> file of the index."""
    for index_name in (SAFETENSORS_INDEX, _BIN_INDEX):
        index_file = path / index_name
        if not index_file.exists():
            continue
        index = read_json_file(index_file, "weights index")
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            raise FastpruneError(f"{index_file} has no 'weight_map' of tensor names to shard files")
        tensor_file = {name: path / str(shard) for name, shard in weight_map.items()}
        shards = sorted(set(tensor_file.values()))
        missing = [s.name for s in shards if not s.is_file()]
        if missing:
            raise FastpruneError(
                f"{index_file} names {len(missing)} shard(s) that are missing: {', '.join(missing[:3])}"
                f"{' ...' if len(missing) > 3 else ''}; the checkpoint is incomplete (copy it again)")
        return shards, tensor_file
    singles = [path / name for name in _SINGLE_FILES if (path / name).is_file()]
    if not singles:
        raise FastpruneError(
            f"{path} holds a config.json but no weights ({' or '.join(_SINGLE_FILES)} or a "
            f"{SAFETENSORS_INDEX} with its shards)")
    return singles[:1], {}


def _safetensors_shapes(file: Path) -> dict[str, list[int]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), framework="pt") as f:
            names = f.keys()  # a safe_open handle is not iterable
            return {name: list(f.get_slice(name).get_shape()) for name in names}
    except SafetensorError as exc:
        detail = str(exc).split(": ", 1)[-1]
        raise FastpruneError(
            f"{file} is truncated or corrupt ({detail}); copy or write the checkpoint again") from None
    except OSError as exc:
        raise FastpruneError(f"cannot read {file}: {exc.strerror or exc}") from None


def check_checkpoint(path: str | Path, trust_remote_code: bool = False,
                     compare_shapes: bool = False) -> CheckpointFiles:
    """Read ``path``'s config, weights index and safetensors headers; a ``FastpruneError`` names any broken file.

    Reads headers only (no tensor data), so it is cheap enough to run before every load. With
    ``compare_shapes`` the stored shapes are also compared with a meta-device model built from the config
    (a load does that itself, through its report).
    """
    path = Path(path)
    config = _read_config(path, trust_remote_code)
    weights, tensor_file = _weight_files(path)
    shapes: dict[str, list[int]] = {}
    for file in weights:
        if file.suffix == ".safetensors":
            stored = _safetensors_shapes(file)
            shapes.update(stored)
            if len(weights) == 1:
                tensor_file.update((name, file) for name in stored)
    for name in _TOKENIZER_JSON_FILES:
        if (path / name).is_file():
            read_json_file(path / name, "tokenizer")
    files = CheckpointFiles(path, config, weights, tensor_file)
    if compare_shapes and shapes:
        check_load_report(str(path), files, _compare_with_config(path, shapes, trust_remote_code))
    return files


def _compare_with_config(path: Path, shapes: dict[str, list[int]], trust_remote_code: bool) -> dict:
    """What a load report would say, from the stored shapes and a model built on the meta device (no memory).

    Shapes are compared on the names both sides share. Tensors count as missing only when the stored names
    are the model's own (most of them match): transformers renames some checkpoints' tensors on load, and
    those are left to the load report.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise load_error(str(path), exc) from exc
    expected = {name: list(t.shape) for name, t in model.state_dict().items()}
    mismatched = [(name, shapes[name], shape) for name, shape in expected.items()
                  if name in shapes and shape != shapes[name]]
    tied = set(getattr(model, "all_tied_weights_keys", None) or {})
    needed = set(expected) - tied
    missing = needed - set(shapes)
    return {"mismatched_keys": mismatched, "missing_keys": missing if len(missing) < len(needed) / 2 else ()}


def check_load_report(name: str, files: CheckpointFiles | None, report: dict) -> None:
    """Refuse a model that transformers loaded with tensors of the wrong shape or with tensors missing."""
    mismatched = sorted(report.get("mismatched_keys") or ())
    if mismatched:
        tensor, stored, expected = mismatched[0][:3]
        where = files.where(tensor) if files else name
        config = f"{files.path / CONFIG}" if files else "the model config"
        raise FastpruneError(
            f"{where}: tensor {tensor} has shape {list(stored)} but {config} implies {list(expected)} "
            f"({len(mismatched)} tensor(s) disagree); the config does not belong to these weights")
    missing = sorted(report.get("missing_keys") or ())
    if missing:
        where = ", ".join(str(w) for w in files.weights) if files else name
        raise FastpruneError(
            f"{where} lacks {len(missing)} tensor(s) the model needs ({', '.join(missing[:3])}"
            f"{' ...' if len(missing) > 3 else ''}); the checkpoint is incomplete")


def load_error(name: str, exc: Exception) -> FastpruneError:
    """A ``FastpruneError`` for an exception transformers raised while loading ``name``."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return FastpruneError(f"cannot load model {name!r}: {first}")


def check_model_spec(spec: str, trust_remote_code: bool = False) -> None:
    """Fail now on a bad spec or a broken local checkpoint, without loading anything.

    Commands that take several models (eval, bench, run) call this for all of them before writing any
    output, so a broken second model does not leave the first one's half of a result behind.
    """
    from fastprune.models.spec import parse_model_spec

    parsed = parse_model_spec(spec)
    if parsed.kind == "local":
        check_checkpoint(parsed.value, trust_remote_code, compare_shapes=True)
