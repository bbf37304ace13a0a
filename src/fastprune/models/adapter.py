"""Architecture facts: where the decoder layers live and which config fields are per-layer.

Every stage goes through this adapter instead of assuming ``model.model.layers``, so a new family
needs one entry here, not edits across the code base.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from fastprune.errors import FastpruneError

# Dotted paths (from the CausalLM wrapper) tried in order; the first that is a ModuleList of blocks wins.
_LAYER_PATHS = ("model.layers", "model.decoder.layers", "transformer.h", "transformer.layers", "gpt_neox.layers")
_FINAL_NORM_PATHS = ("model.norm", "model.final_layernorm", "model.decoder.final_layer_norm", "transformer.ln_f",
                     "gpt_neox.final_layer_norm")
# Config fields that are per-layer lists in some families; any other list whose length equals the layer
# count is detected too (see per_layer_config_fields).
_KNOWN_PER_LAYER_FIELDS = ("layer_types", "sliding_window_pattern_list", "num_key_value_heads_per_layer",
                           "intermediate_size_per_layer", "no_rope_layers")
# Lists that can happen to have the layer count as length but are never per-layer.
_NEVER_PER_LAYER = ("architectures", "bad_words_ids", "suppress_tokens", "begin_suppress_tokens")


def _get_path(root: nn.Module, path: str):
    obj = root
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


@dataclass
class ArchitectureAdapter:
    """Locates the pieces of a decoder-only causal LM that pruning and calibration touch."""

    model: nn.Module
    layers_path: str
    final_norm_path: str | None

    @property
    def layers(self) -> nn.ModuleList:
        return _get_path(self.model, self.layers_path)

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def final_norm(self) -> nn.Module | None:
        return _get_path(self.model, self.final_norm_path) if self.final_norm_path else None

    @property
    def config(self):
        return self.model.config

    @property
    def text_config(self):
        cfg = self.model.config
        return cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg

    @property
    def architecture(self) -> str:
        archs = getattr(self.model.config, "architectures", None)
        return archs[0] if archs else type(self.model).__name__

    def embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def lm_head(self) -> nn.Module | None:
        return self.model.get_output_embeddings()

    def tied_embeddings(self) -> bool:
        head = self.lm_head()
        return head is not None and head.weight is self.embeddings().weight

    def per_layer_config_fields(self) -> list[str]:
        """Names of config fields that hold one entry per decoder layer (to be sliced on pruning)."""
        cfg = self.text_config
        n = self.num_layers
        fields = []
        for key, value in cfg.to_dict().items():
            if key in _NEVER_PER_LAYER or "token_id" in key:
                continue
            if isinstance(value, (list, tuple)) and len(value) == n and (
                key in _KNOWN_PER_LAYER_FIELDS or n > 1
            ):
                fields.append(key)
        return sorted(fields)

    def attention_modules(self) -> list[nn.Module]:
        """The attention module of each layer that carries a ``layer_idx`` (KV cache slot)."""
        out = []
        for layer in self.layers:
            for module in layer.modules():
                if hasattr(module, "layer_idx") and module is not layer:
                    out.append(module)
                    break
            else:
                if hasattr(layer, "layer_idx"):
                    out.append(layer)
        return out

    def layer_parameter_count(self, index: int) -> int:
        return sum(p.numel() for p in self.layers[index].parameters())


def adapter_for(model: nn.Module) -> ArchitectureAdapter:
    """Build the adapter for ``model`` or fail with an error naming the architecture."""
    for path in _LAYER_PATHS:
        layers = _get_path(model, path)
        if isinstance(layers, nn.ModuleList) and len(layers) > 0:
            norm = next((p for p in _FINAL_NORM_PATHS if isinstance(_get_path(model, p), nn.Module)), None)
            return ArchitectureAdapter(model=model, layers_path=path, final_norm_path=norm)
    name = type(model).__name__
    raise FastpruneError(
        f"architecture {name} has no decoder-layer list fastprune knows (looked for "
        f"{', '.join(_LAYER_PATHS)}); it is not a supported decoder-only model"
    )
