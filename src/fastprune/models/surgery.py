"""Structural removal of decoder layers from an in-memory HF model, leaving a model that saves and reloads.

The traps (see DESIGN.md): every module's ``layer_idx`` indexes the KV cache and must be renumbered;
``num_hidden_layers`` and every per-layer config list (``layer_types``, ...) must be sliced the same way,
or the saved config rebuilds different layers than the weights describe. Embeddings are never touched, so
tied input/output embeddings stay tied.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterable, Iterator

from torch import nn

from fastprune.errors import FastpruneError
from fastprune.models.adapter import ArchitectureAdapter, adapter_for
from fastprune.models.loader import unwrap_model

# Config fields holding layer *indices* (not one value per layer): remapped to the new numbering.
_INDEX_LIST_FIELDS = ("mlp_only_layers",)
# Config ints meaning "layers below this index": recounted over the kept layers.
_INDEX_BOUND_FIELDS = ("max_window_layers",)


def normalize_layers(layers: Iterable[int], num_layers: int) -> list[int]:
    """Validate layer indices (negative ones count from the end) and return them sorted, non-negative.

    Refuses duplicates, out-of-range indices, an empty list and a list of every layer.
    """
    raw = list(layers)
    if not raw:
        raise FastpruneError("no layers to remove; give at least one layer (e.g. --drop 1 or --layers -2)")
    resolved = []
    for value in raw:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FastpruneError(f"layer index {value!r} is not an integer")
        index = value + num_layers if value < 0 else value
        if not 0 <= index < num_layers:
            raise FastpruneError(
                f"layer index {value} is out of range for a model with {num_layers} layers "
                f"(valid: 0..{num_layers - 1} or -{num_layers}..-1)"
            )
        resolved.append(index)
    duplicates = sorted({i for i in resolved if resolved.count(i) > 1})
    if duplicates:
        raise FastpruneError(
            f"layers {duplicates} are listed more than once (after resolving negative indices)"
        )
    if len(resolved) >= num_layers:
        raise FastpruneError(f"cannot remove all {num_layers} layers; keep at least one")
    return sorted(resolved)


def _set_path(root: nn.Module, path: str, value: nn.Module) -> None:
    parent_path, _, attr = path.rpartition(".")
    parent = root
    for part in parent_path.split(".") if parent_path else ():
        parent = getattr(parent, part)
    setattr(parent, attr, value)


def _slice_config(cfg, keep: list[int], per_layer_fields: list[str], old_count: int) -> list[str]:
    """Apply the layer removal to the text config; return the names of the fields changed."""
    changed = ["num_hidden_layers"]
    cfg.num_hidden_layers = len(keep)
    for name in per_layer_fields:
        value = getattr(cfg, name)
        sliced = [value[i] for i in keep]
        setattr(cfg, name, type(value)(sliced) if isinstance(value, tuple) else sliced)
        changed.append(name)
    new_index = {old: new for new, old in enumerate(keep)}
    for name in _INDEX_LIST_FIELDS:
        value = getattr(cfg, name, None)
        if isinstance(value, (list, tuple)):
            setattr(cfg, name, [new_index[i] for i in value if i in new_index])
            changed.append(name)
    for name in _INDEX_BOUND_FIELDS:
        value = getattr(cfg, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= old_count:
            setattr(cfg, name, sum(1 for i in keep if i < value))
            changed.append(name)
    return changed


def _renumber(layers: nn.ModuleList) -> None:
    # Attention modules carry layer_idx (KV cache slot); some families also keep it on the decoder layer or
    # on sub-modules (MoE routers, norms). Renumber every integer layer_idx inside the layer.
    for new, layer in enumerate(layers):
        for module in layer.modules():
            if isinstance(getattr(module, "layer_idx", None), int):
                module.layer_idx = new


def prune_model(
    model_or_loaded,
    layers_to_remove: Iterable[int],
    *,
    inplace: bool = True,
    strategy: str = "explicit",
    importance_sha256: str | None = None,
    extra_provenance: dict | None = None,
):
    """Remove ``layers_to_remove`` from an HF causal LM (or a ``LoadedModel``) and return the model.

    With ``inplace=False`` the input is deep-copied first (twice the memory) and left intact. The model's
    config gets a ``fastprune`` block: ``removed_layers`` (indices in the input model), ``kept_layers``,
    ``original_num_layers``, ``strategy``, ``importance_sha256``, ``config_fields_changed``, plus
    ``extra_provenance``; a model pruned before keeps its earlier block under ``previous``.
    """
    model = unwrap_model(model_or_loaded, "prune_model")
    adapter: ArchitectureAdapter = adapter_for(model)
    old_count = adapter.num_layers
    cfg = adapter.text_config
    if getattr(cfg, "num_hidden_layers", old_count) != old_count:
        raise FastpruneError(
            f"config.num_hidden_layers={cfg.num_hidden_layers} disagrees with the {old_count} layers found "
            f"at {adapter.layers_path}; the model is inconsistent, reload it"
        )
    removed = normalize_layers(layers_to_remove, old_count)
    if not inplace:
        model = copy.deepcopy(model)
        adapter = adapter_for(model)
        cfg = adapter.text_config
    tied_before = adapter.tied_embeddings()
    # Per-layer fields are found by length, so look them up before the layer count changes.
    per_layer_fields = adapter.per_layer_config_fields()
    keep = [i for i in range(old_count) if i not in set(removed)]
    old_layers = adapter.layers
    new_layers = nn.ModuleList(old_layers[i] for i in keep)
    _set_path(model, adapter.layers_path, new_layers)
    _renumber(new_layers)
    changed = _slice_config(cfg, keep, per_layer_fields, old_count)
    if model.config is not cfg and hasattr(model.config, "num_hidden_layers"):
        model.config.num_hidden_layers = len(keep)
    if adapter.tied_embeddings() != tied_before:
        raise FastpruneError("internal error: layer surgery changed whether embeddings are tied")
    block = {
        "removed_layers": removed,
        "kept_layers": keep,
        "original_num_layers": old_count,
        "num_layers": len(keep),
        "strategy": strategy,
        "importance_sha256": importance_sha256,
        "config_fields_changed": changed,
        **(extra_provenance or {}),
    }
    previous = getattr(model.config, "fastprune", None)
    if previous:
        block["previous"] = previous
    model.config.fastprune = block
    return model


_MISSING = object()


@contextlib.contextmanager
def temporarily_pruned(model: nn.Module, layers_to_remove: Iterable[int]) -> Iterator[nn.Module]:
    """Prune ``model`` in place for the duration of the block, then restore it exactly.

    Inside, the model is a correct pruned model (renumbered ``layer_idx``, sliced config), so scorers can
    run ``generate`` with the KV cache on it: what a task-accuracy scorer for the iterative search needs,
    without a deep copy per candidate. Not thread-safe: the model is shared.
    """
    adapter = adapter_for(model)
    cfg = adapter.text_config
    layers = adapter.layers
    names = ["num_hidden_layers", *adapter.per_layer_config_fields(), *_INDEX_LIST_FIELDS, *_INDEX_BOUND_FIELDS]
    saved_cfg = {name: copy.deepcopy(getattr(cfg, name)) for name in names if hasattr(cfg, name)}
    saved_top = (getattr(model.config, "num_hidden_layers", _MISSING), getattr(model.config, "fastprune", _MISSING))
    saved_idx = [
        (module, module.layer_idx)
        for layer in layers
        for module in layer.modules()
        if isinstance(getattr(module, "layer_idx", None), int)
    ]
    try:
        prune_model(model, layers_to_remove, strategy="temporary")
        yield model
    finally:
        _set_path(model, adapter.layers_path, layers)
        for module, index in saved_idx:
            module.layer_idx = index
        for name, value in saved_cfg.items():
            setattr(cfg, name, value)
        count, block = saved_top
        if count is not _MISSING:
            model.config.num_hidden_layers = count
        if block is _MISSING:
            with contextlib.suppress(AttributeError):
                delattr(model.config, "fastprune")
        else:
            model.config.fastprune = block
