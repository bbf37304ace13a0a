"""Verification of a written pruned checkpoint against what it must be.

Three independent computations must agree on a padded probe batch:
  1. the original model with the removed layers skipped (``LayerRunner``, computed *before* surgery, since
     in-place surgery destroys the original);
  2. the in-memory pruned model;
  3. the checkpoint reloaded from disk with plain ``transformers.AutoModelForCausalLM``.
Logits of 1, 2 and 3 must match at every real (non-pad) position, and greedy generation with the KV cache
from 3 must equal that of 2: wrong ``layer_idx`` numbering or an unsliced ``layer_types`` shows up there.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fastprune.data.batching import pad_batch, pad_id_of
from fastprune.errors import FastpruneError
from fastprune.models.layer_runner import LayerRunner

PROBE_TEXTS = (
    "The quick brown fox jumps over the lazy dog because it wanted to see what was on the other side.",
    "Question: 12 + 30 = ?",
    "def add(a, b):\n    return",
)
NEW_TOKENS = 8


@dataclass
class Probe:
    input_ids: torch.Tensor  # [B, S] right-padded, for logits
    attention_mask: torch.Tensor
    gen_input_ids: torch.Tensor  # [B, S] left-padded, for generation
    gen_attention_mask: torch.Tensor
    pad_token_id: int


def _tolerance(dtype: torch.dtype) -> float:
    # Relative to the largest logit: the same computation should agree to rounding noise of the dtype.
    return 1e-4 if dtype == torch.float32 else 3e-2


def make_probe(tokenizer, vocab_size: int, device, seed: int = 0) -> Probe:
    """Prompts of different lengths (so padding is exercised), or random ids when there is no tokenizer."""
    if tokenizer is not None:
        rows = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in PROBE_TEXTS]
    else:
        g = torch.Generator().manual_seed(seed)
        rows = [torch.randint(0, vocab_size, (n,), generator=g).tolist() for n in (24, 9, 15)]
    pad = pad_id_of(tokenizer)
    right, right_mask = pad_batch(rows, pad)
    left, left_mask = pad_batch(rows, pad, left=True)
    return Probe(right.to(device), right_mask.to(device), left.to(device), left_mask.to(device), int(pad))


def skipped_reference_logits(model, removed: list[int], probe: Probe) -> torch.Tensor:
    """Logits of the original (unpruned) model with ``removed`` skipped, on the probe's right-padded batch."""
    runner = LayerRunner(model)
    trace = runner.capture(probe.input_ids, probe.attention_mask)
    start = min(removed)
    hidden = runner.run_layers(trace, start, trace.layer_inputs[start], skip=frozenset(removed))
    return runner.logits(hidden).float()


@torch.no_grad()
def _logits(model, probe: Probe) -> torch.Tensor:
    out = model(input_ids=probe.input_ids, attention_mask=probe.attention_mask, use_cache=False)
    return out.logits.float()


@torch.no_grad()
def _greedy(model, probe: Probe) -> torch.Tensor:
    out = model.generate(
        input_ids=probe.gen_input_ids,
        attention_mask=probe.gen_attention_mask,
        max_new_tokens=NEW_TOKENS,
        min_new_tokens=NEW_TOKENS,  # an early EOS would make the comparison shorter than promised
        do_sample=False,
        use_cache=True,
        pad_token_id=probe.pad_token_id,
    )
    return out[:, probe.gen_input_ids.shape[1] :]


def _max_diff(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    real = mask.bool()
    return float((a[real] - b[real]).abs().max())


def load_plain(path, dtype: torch.dtype, device):
    """The checkpoint as any downstream user would load it: plain transformers, nothing from fastprune."""
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype).to(device).eval()
    except (OSError, ValueError, RuntimeError) as exc:
        raise FastpruneError(f"verification failed: the written checkpoint does not load: {exc}") from exc


def verify_checkpoint(path, pruned, probe: Probe, reference_logits: torch.Tensor | None) -> dict:
    """Check the checkpoint at ``path`` against ``pruned`` and the skipped-layer reference; report dict.

    Raises ``FastpruneError`` naming the failed check. ``reference_logits`` may be None when the original
    model was not available (then only the reload checks run).
    """
    dtype = next(pruned.parameters()).dtype
    device = next(pruned.parameters()).device
    reloaded = load_plain(path, dtype, device)
    expected_layers = pruned.config.num_hidden_layers
    got_layers = reloaded.config.get_text_config().num_hidden_layers
    if got_layers != expected_layers:
        raise FastpruneError(
            f"verification failed: reloaded config has {got_layers} layers, not {expected_layers}"
        )
    tied = pruned.get_output_embeddings().weight is pruned.get_input_embeddings().weight
    if tied and reloaded.get_output_embeddings().weight is not reloaded.get_input_embeddings().weight:
        raise FastpruneError(
            "verification failed: embeddings were tied before saving but not after reloading"
        )
    report = {
        "dtype": str(dtype).replace("torch.", ""),
        "probe_shape": list(probe.input_ids.shape),
    }
    mine = _logits(pruned, probe)
    theirs = _logits(reloaded, probe)
    scale = max(1.0, float(mine[probe.attention_mask.bool()].abs().max()))
    tol = _tolerance(dtype) * scale
    report["tolerance"] = tol
    report["max_abs_diff_reloaded_vs_pruned"] = diff = _max_diff(mine, theirs, probe.attention_mask)
    if not diff <= tol:
        raise FastpruneError(
            "verification failed: reloaded checkpoint logits differ from the in-memory pruned model "
            f"by {diff:.3g} (tolerance {tol:.3g})"
        )
    if reference_logits is not None:
        report["max_abs_diff_pruned_vs_skipped_original"] = diff = _max_diff(
            mine, reference_logits.to(mine.device), probe.attention_mask
        )
        if not diff <= tol:
            raise FastpruneError(
                "verification failed: pruned model logits differ from the original model run with those "
                f"layers "
                f"skipped by {diff:.3g} (tolerance {tol:.3g}); the surgery is wrong for this architecture"
            )
    try:
        mine_tokens = _greedy(pruned, probe)
        their_tokens = _greedy(reloaded, probe)
    except (IndexError, RuntimeError, ValueError) as exc:
        # A stale layer_idx indexes a missing KV-cache slot: that is a failed check, not a crash.
        raise FastpruneError(f"verification failed: greedy generation with the KV cache raised {exc!r}") from exc
    if not torch.equal(mine_tokens, their_tokens):
        raise FastpruneError(
            "verification failed: greedy generation with the KV cache from the reloaded checkpoint differs "
            f"from the in-memory pruned model ({their_tokens.tolist()} vs {mine_tokens.tolist()})"
        )
    report["greedy_tokens_checked"] = int(mine_tokens.numel())
    del reloaded
    return report
