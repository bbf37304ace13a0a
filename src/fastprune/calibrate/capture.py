"""Hooks that copy every layer boundary of one forward pass into a single preallocated buffer.

Boundary ``k`` is the input of layer 0 (``k = 0``) or the output of layer ``k - 1`` before the final
norm. Only real tokens are kept: for a padded batch each hook gathers the non-pad rows straight into the
buffer (one ``index_select``), so the statistics op never sees padding and needs no mask; for an unpadded
batch the hook is a plain copy. The buffer is allocated once for the largest batch and reused, so memory
does not grow with the corpus.
"""

from __future__ import annotations

import torch

from fastprune.errors import FastpruneError
from fastprune.models.adapter import ArchitectureAdapter


def _as_hidden(output) -> torch.Tensor:
    # transformers 5 decoder layers return the tensor; older ones (and some remote code) return a tuple.
    return output[0] if isinstance(output, (tuple, list)) else output


class BoundaryCapture:
    """Context manager: while active, every forward of the model fills ``buffer`` ``[L+1, n, D]``."""

    def __init__(
        self, adapter: ArchitectureAdapter, max_tokens: int, dtype: torch.dtype, device: torch.device
    ):
        self.adapter = adapter
        self.num_boundaries = adapter.num_layers + 1
        self.hidden = int(adapter.text_config.hidden_size)
        self._flat = torch.empty(self.num_boundaries * max_tokens * self.hidden, dtype=dtype, device=device)
        self._max_tokens = max_tokens
        self.enabled = True
        self.buffer: torch.Tensor | None = None
        self._index: torch.Tensor | None = None
        self._filled: list[bool] = []
        self._handles: list = []

    def bind(self, attention_mask: torch.Tensor) -> tuple[int, torch.Tensor]:
        """Prepare for a batch; returns ``(n, last)``: the number of real tokens and, per sequence, the
        row of its last real token in the buffer."""
        bsz, seq = attention_mask.shape
        mask = attention_mask.reshape(-1).bool()
        n = int(mask.sum())
        if n == 0:
            raise FastpruneError("the batch holds only padding tokens; nothing to measure")
        if n > self._max_tokens:
            raise FastpruneError(
                f"batch has {n} tokens, more than the {self._max_tokens} the buffer was sized for"
            )
        if n == bsz * seq:
            self._index = None
            last = torch.arange(1, bsz + 1, device=mask.device) * seq - 1
        else:
            self._index = mask.nonzero().squeeze(1)
            positions = torch.arange(seq, device=mask.device).expand(bsz, seq)
            last_pos = (positions * attention_mask.bool()).amax(dim=1)
            if bool((attention_mask.sum(dim=1) == 0).any()):
                raise FastpruneError("a sequence in the batch holds only padding; the batcher should drop it")
            # Row of token (b, last_pos[b]) among the gathered real tokens.
            last = mask.long().cumsum(0)[torch.arange(bsz, device=mask.device) * seq + last_pos] - 1
        self.buffer = self._flat[: self.num_boundaries * n * self.hidden].view(
            self.num_boundaries, n, self.hidden
        )
        self._filled = [False] * self.num_boundaries
        return n, last

    def check_filled(self) -> None:
        missing = [k for k, done in enumerate(self._filled) if not done]
        if missing:
            raise FastpruneError(
                f"the forward pass did not reach layer boundaries {missing}; "
                "config.num_hidden_layers may disagree with the layer list"
            )

    @torch.no_grad()
    def _write(self, k: int, hidden: torch.Tensor) -> None:
        if not self.enabled or self.buffer is None:
            return
        flat = hidden.detach().reshape(-1, self.hidden)
        if self._index is None:
            self.buffer[k].copy_(flat)
        else:
            torch.index_select(flat, 0, self._index, out=self.buffer[k])
        self._filled[k] = True

    def __enter__(self) -> BoundaryCapture:
        layers = self.adapter.layers

        def pre_hook(_module, args, kwargs):
            self._write(0, args[0] if args else kwargs["hidden_states"])

        def post_hook(index):
            def hook(_module, _args, output):
                self._write(index + 1, _as_hidden(output))

            return hook

        self._handles.append(layers[0].register_forward_pre_hook(pre_hook, with_kwargs=True))
        self._handles.extend(layer.register_forward_hook(post_hook(i)) for i, layer in enumerate(layers))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
