"""Run a decoder from any layer on given hidden states, reusing one captured forward pass.

Loss ablations and the iterative pruning search ask "what does the model output if layer l (or a set of
layers) is gone?" many times on the same batch. Re-running the whole model for each candidate wastes the
prefix 0..l-1, which is identical for all of them. ``LayerRunner.capture`` runs the base model once and
records, through forward pre-hooks, each layer's input hidden state *and the exact keyword arguments the
model passed to it* (attention mask of that layer's type, rotary position embeddings, position ids). Layers
are then called directly with those kwargs, so the runner needs no per-family knowledge: sliding-window
layers (Gemma2/3, Mistral), per-layer-type rotary tables (Gemma3) and fused projections (Phi3) all get what
the model itself would have given them.

Running layers ``start..L-1`` with some skipped is exactly what a model with those layers deleted computes:
masks and rotary embeddings depend only on positions and each layer's own type, not on its index.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from fastprune.errors import FastpruneError
from fastprune.models.adapter import ArchitectureAdapter, adapter_for
from fastprune.models.loader import unwrap_model

# Call kwargs dropped from captured calls: the runner never uses a KV cache (every call is a full prefill).
_CACHE_KWARGS = ("past_key_values", "past_key_value", "cache_position")


@dataclass
class LayerTrace:
    """One captured forward pass. Tensors stay on the model's device.

    ``layer_inputs[l]``: ``[B, S, D]`` input hidden state of layer ``l`` (``l = 0..L-1``).
    ``final``: ``[B, S, D]`` output of layer ``L-1`` before the final norm.
    ``layer_kwargs[l]``: the keyword arguments the model passed to layer ``l`` (shared tensors, not copies).
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor | None
    layer_inputs: list[torch.Tensor]
    final: torch.Tensor
    layer_kwargs: list[dict] = field(repr=False)

    @property
    def num_layers(self) -> int:
        return len(self.layer_kwargs)


def _as_hidden(output) -> torch.Tensor:
    # transformers 5 decoder layers return the tensor; older ones (and some remote code) return a tuple.
    return output[0] if isinstance(output, (tuple, list)) else output


class LayerRunner:
    """Capture per-layer inputs once, then run any suffix of the decoder with layers skipped.

    >>> runner = LayerRunner(loaded)
    >>> trace = runner.capture(input_ids, attention_mask)
    >>> h = runner.run_layers(trace, start=3, hidden=trace.layer_inputs[3], skip={3})
    >>> loss = runner.lm_loss(h, input_ids, attention_mask)
    """

    def __init__(self, model_or_loaded):
        model = unwrap_model(model_or_loaded, "LayerRunner")
        adapter = getattr(model_or_loaded, "adapter", None)
        if not isinstance(adapter, ArchitectureAdapter) or adapter.model is not model:
            adapter = adapter_for(model)
        self.model: nn.Module = model
        self.adapter: ArchitectureAdapter = adapter
        self.base = getattr(model, "base_model", model)
        if self.base is model:
            raise FastpruneError(
                f"{type(model).__name__} has no base model under a CausalLM head; LayerRunner needs a "
                "decoder-only *ForCausalLM model"
            )

    @property
    def num_layers(self) -> int:
        return self.adapter.num_layers

    @torch.no_grad()
    def capture(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> LayerTrace:
        """One forward of the base model (no LM head, no cache); returns every layer's input and kwargs.

        ``input_ids``: ``[B, S]`` int64; ``attention_mask``: ``[B, S]`` with 1 for real tokens, 0 for padding.
        """
        if input_ids.dim() != 2:
            raise FastpruneError(f"input_ids must be [batch, seq]; got shape {tuple(input_ids.shape)}")
        device = next(self.model.parameters()).device
        input_ids = input_ids.to(device)
        if attention_mask is not None:
            attention_mask = attention_mask.to(device)
        layers = self.adapter.layers
        n = len(layers)
        inputs: list[torch.Tensor | None] = [None] * n
        kwargs_per_layer: list[dict | None] = [None] * n
        final: list[torch.Tensor] = []

        def pre_hook(index):
            def hook(_module, args, kwargs):
                if args:
                    inputs[index] = args[0]
                    rest = tuple(args[1:])
                else:
                    inputs[index] = kwargs["hidden_states"]
                    rest = ()
                if rest:
                    raise FastpruneError(
                        f"layer {index} of {type(self.model).__name__} received extra positional arguments; "
                        "LayerRunner only supports layers called as layer(hidden, **kwargs)"
                    )
                kwargs_per_layer[index] = {
                    k: v for k, v in kwargs.items() if k != "hidden_states" and k not in _CACHE_KWARGS
                }

            return hook

        def last_hook(_module, _args, output):
            final.append(_as_hidden(output))

        handles = [
            layer.register_forward_pre_hook(pre_hook(i), with_kwargs=True) for i, layer in enumerate(layers)
        ]
        handles.append(layers[n - 1].register_forward_hook(last_hook))
        try:
            self.base(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                use_cache=False,
            )
        finally:
            for handle in handles:
                handle.remove()
        missing = [i for i, x in enumerate(inputs) if x is None]
        if missing or not final:
            raise FastpruneError(
                f"the forward pass of {type(self.model).__name__} never called decoder layers {missing}; "
                "config.num_hidden_layers may disagree with the layer list"
            )
        for kw in kwargs_per_layer:
            kw["use_cache"] = False
        return LayerTrace(
            input_ids=input_ids,
            attention_mask=attention_mask,
            layer_inputs=inputs,
            final=final[0],
            layer_kwargs=kwargs_per_layer,
        )

    @torch.no_grad()
    def run_layers(
        self,
        trace: LayerTrace,
        start: int,
        hidden: torch.Tensor,
        skip=frozenset(),
        stop: int | None = None,
    ) -> torch.Tensor:
        """Run layers ``start..stop-1`` (default: to the last) except ``skip`` on ``hidden``; pre-norm output.

        Each layer gets the kwargs captured for it in ``trace``, so ``hidden`` must have the trace's batch
        and sequence shape.
        """
        n = self.num_layers
        if trace.num_layers != n:
            raise FastpruneError(f"trace has {trace.num_layers} layers but the model has {n}; capture again")
        stop = n if stop is None else stop
        if not 0 <= start <= stop <= n:
            raise FastpruneError(f"layer range {start}..{stop} is outside 0..{n}")
        if hidden.shape != trace.layer_inputs[0].shape:
            raise FastpruneError(
                f"hidden has shape {tuple(hidden.shape)}, the trace {tuple(trace.layer_inputs[0].shape)}"
            )
        layers = self.adapter.layers
        for index in range(start, stop):
            if index in skip:
                continue
            hidden = _as_hidden(layers[index](hidden, **trace.layer_kwargs[index]))
        return hidden

    @torch.no_grad()
    def inputs_with_skip(self, trace: LayerTrace, skip=frozenset()) -> list[torch.Tensor]:
        """Every layer's input in the model with ``skip`` removed, from one pass over the trace.

        Entry ``l`` is what layer ``l`` would receive if the skipped layers were gone (for a skipped ``l``:
        what it would receive if it were put back). Greedy searches use it to start each candidate from its
        own layer instead of layer 0. With an empty ``skip`` this is ``trace.layer_inputs``.
        """
        if not skip:
            return list(trace.layer_inputs)
        first = min(skip)
        inputs = list(trace.layer_inputs[: first + 1])
        hidden = inputs[first]
        for index in range(first, self.num_layers - 1):
            hidden = self.run_layers(trace, index, hidden, skip=skip, stop=index + 1)
            inputs.append(hidden)
        return inputs

    @torch.no_grad()
    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Final norm + LM head on pre-norm ``hidden`` ``[B, S, D]`` -> ``[B, S, V]`` logits."""
        norm = self.adapter.final_norm
        if norm is not None:
            hidden = norm(hidden)
        head = self.adapter.lm_head()
        if head is None:
            raise FastpruneError(
                f"{type(self.model).__name__} has no LM head (get_output_embeddings() is None)"
            )
        logits = head(hidden)
        cfg = self.adapter.text_config
        # Families that post-process logits in their CausalLM forward (Gemma2/3 softcapping).
        cap = getattr(cfg, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return logits

    @torch.no_grad()
    def lm_loss(
        self,
        hidden: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        reduction: str = "mean",
    ):
        """Next-token cross-entropy of pre-norm ``hidden`` against ``input_ids``.

        A target counts only when both it and the position predicting it are real tokens, so left or right
        padding never enters the loss. ``reduction="mean"`` -> float; ``"sum"`` -> (sum: float, count: int).
        Rows are processed one at a time: ``[S, V]`` fp32 logits of a large vocabulary are the peak memory.
        """
        if reduction not in ("mean", "sum"):
            raise FastpruneError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        input_ids = input_ids.to(hidden.device)
        if attention_mask is None:
            valid = torch.ones_like(input_ids[:, 1:], dtype=torch.bool)
        else:
            mask = attention_mask.to(hidden.device).bool()
            valid = mask[:, 1:] & mask[:, :-1]
        total = 0.0
        count = 0
        for row in range(hidden.shape[0]):
            keep = valid[row]
            n = int(keep.sum())
            if n == 0:
                continue
            logits = self.logits(hidden[row : row + 1, :-1][:, keep]).float()[0]
            targets = input_ids[row, 1:][keep]
            total += float(torch.nn.functional.cross_entropy(logits, targets, reduction="sum"))
            count += n
        if reduction == "sum":
            return total, count
        if count == 0:
            raise FastpruneError("no non-padding next-token targets in the batch; the loss is undefined")
        return total / count
