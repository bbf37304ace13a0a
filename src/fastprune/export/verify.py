"""Check a written GGUF against the checkpoint it came from, before it is renamed into place.

1. transformers' GGUF loader (through ``fastprune.models.gguf.load_gguf``) rebuilds the model: depth and
   per-layer attention pattern must equal the checkpoint's, the rebuilt tokenizer must encode the probe
   texts to the same ids, every weight must equal exactly what its ggml type stores for the checkpoint's
   weight (so a layout bug cannot hide in quantisation noise), and the logits on the probes must agree
   with the checkpoint's within the type's tolerance (that is the cost of the type);
2. when ``llama-cpp-python`` is installed, llama.cpp's greedy continuation of the probe ids must equal
   HF's for the first ``LLAMA_CPP_TOKENS`` tokens (skipped, with the reason, when it is not).

Tolerance is on ``max |logit_gguf - logit_ckpt| / max |logit_ckpt|`` over every position of every probe.
Measured on tiny models of all seven families and the embedded model pruned to 22 layers (see
tests/export): f32 < 1e-6 (the +1/-1 of Gemma norms is the only rounding), f16 < 1e-3, q8_0 < 1.5e-2.
The limits leave a margin of about 3x over the worst case seen.
"""

from __future__ import annotations

import importlib.util

import torch

from fastprune.errors import FastpruneError

TOLERANCE = {"f32": 1e-5, "f16": 5e-3, "q8_0": 1e-1}
PROBE_TEXTS = (
    "The quick brown fox jumps over the lazy dog because it wanted to see the other side.",
    "Question: 12 + 30 = ?\nAnswer:",
    "def add(a, b):\n    return a + b\n",
)
LLAMA_CPP_TOKENS = 8


def probe_ids(tokenizer) -> list[list[int]]:
    return [tokenizer(text, add_special_tokens=False)["input_ids"] for text in PROBE_TEXTS]


def _logits(model, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float()


def verify_gguf(path, model, tokenizer, qtype: str) -> dict:
    """Raise ``FastpruneError`` naming what differs; return the measured agreement otherwise."""
    from fastprune.models.gguf import load_gguf

    reloaded, gguf_tokenizer = load_gguf(path, dtype=torch.float32)
    ref_cfg, got_cfg = model.config, reloaded.config
    problems = []
    if got_cfg.num_hidden_layers != ref_cfg.num_hidden_layers:
        problems.append(f"{got_cfg.num_hidden_layers} layers reloaded, {ref_cfg.num_hidden_layers} exported")
    if getattr(ref_cfg, "layer_types", None) != getattr(got_cfg, "layer_types", None):
        problems.append(f"layer_types reloaded as {got_cfg.layer_types}, exported {ref_cfg.layer_types}")
    ids = probe_ids(tokenizer)
    if probe_ids(gguf_tokenizer) != ids:
        problems.append("the tokenizer rebuilt from the GGUF encodes the probe texts differently")
    weights_diff, bad = _weights_check(model, reloaded, qtype)
    if bad:
        problems.append(f"weights read back differ from what {qtype} stores for {bad} "
                        "(a name or layout mapping error)")
    if problems:
        raise FastpruneError(f"GGUF verification of {path} failed: " + "; ".join(problems))
    worst, top1_same, positions = 0.0, 0, 0
    for row in ids:
        ref, got = _logits(model, row), _logits(reloaded, row)
        worst = max(worst, ((got - ref).abs().max() / ref.abs().max().clamp_min(1e-12)).item())
        top1_same += int((got.argmax(-1) == ref.argmax(-1)).sum())
        positions += len(row)
    result = {
        "reloaded_with": "transformers GGUF loader",
        "num_layers": got_cfg.num_hidden_layers,
        "weights_max_abs_diff": weights_diff,
        "max_rel_logit_diff": worst,
        "tolerance": TOLERANCE[qtype],
        "top1_agreement": top1_same / positions,
        "positions": positions,
        "tokenizer_match": True,
    }
    if not worst <= TOLERANCE[qtype]:
        raise FastpruneError(
            f"GGUF verification of {path} failed: logits differ by {worst:.2e} of the largest logit, "
            f"over the {qtype} tolerance {TOLERANCE[qtype]:.0e}"
        )
    result["llama_cpp"] = llama_cpp_check(path, model, ids)
    return result


def _weights_check(model, reloaded, qtype: str) -> tuple[float, list[str]]:
    """Every reloaded weight against the exact value its ggml type stores (quantised and de-quantised
    here with the same ``gguf.quants``): quantisation cannot hide a permuted or misnamed tensor."""
    from fastprune.export.gguf_writer import stored_values

    got = reloaded.state_dict()
    worst, bad = 0.0, []
    for name, tensor in model.state_dict().items():
        if name not in got or got[name].shape != tensor.shape:
            bad.append(name)
            continue
        expected = stored_values(tensor, qtype)
        # Gemma norms go through 1 + w and back: float32 rounding of that sum is the only slack
        diff = (got[name].float() - expected).abs().max().item()
        worst = max(worst, diff)
        if diff > 1e-6 * (1.0 + expected.abs().max().item()):
            bad.append(name)
    return worst, bad[:3]


def llama_cpp_check(path, model, ids: list[list[int]]) -> dict:
    """llama.cpp's greedy tokens on the probe ids vs HF's on the checkpoint; skipped when not installed."""
    if not llama_cpp_available():
        return {"status": "skipped", "reason": "llama-cpp-python is not installed (pip install llama-cpp-python)"}
    from llama_cpp import Llama

    try:
        llm = Llama(model_path=str(path), n_ctx=256, n_threads=1, verbose=False)
    except Exception as exc:  # llama.cpp reports every load problem as a bare exception
        raise FastpruneError(f"llama.cpp cannot load {path}: {exc}") from exc
    mismatches = []
    for row in ids:
        expected = _hf_greedy(model, row, LLAMA_CPP_TOKENS)
        got = []
        # temp 0 is llama.cpp's greedy sampler; older llama-cpp-python defaults to a 1.1 repeat penalty
        for token in llm.generate(row, top_k=1, temp=0.0, repeat_penalty=1.0, reset=True):
            got.append(int(token))
            if len(got) == LLAMA_CPP_TOKENS:
                break
        if got != expected:
            mismatches.append({"prompt_ids": row, "hf": expected, "llama_cpp": got})
    if mismatches:
        raise FastpruneError(f"llama.cpp's greedy output differs from HF's on {len(mismatches)} of {len(ids)} "
                             f"probes: {mismatches[0]}")
    return {"status": "passed", "prompts": len(ids), "tokens_each": LLAMA_CPP_TOKENS}


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def _hf_greedy(model, ids: list[int], n: int) -> list[int]:
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=n, min_new_tokens=n, do_sample=False)
    return out[0, len(ids):].tolist()


def llama_cpp_notes(config) -> list[str]:
    """What llama.cpp computes differently from transformers for this config, in words."""
    notes = []
    window = getattr(config, "sliding_window", None)
    layer_types = getattr(config, "layer_types", None)
    if config.model_type == "mistral" and window:
        notes.append(f"llama.cpp runs Mistral as llama without a sliding window: outputs past {window} tokens "
                     "differ from transformers'")
    fixed = {"gemma2": lambda i: i % 2 == 0, "gemma3_text": lambda i: i % 6 < 5}.get(config.model_type)
    if fixed and layer_types:
        differ = [i for i, kind in enumerate(layer_types) if (kind == "sliding_attention") != fixed(i)]
        if differ:
            notes.append(f"llama.cpp builds that derive {config.model_type}'s sliding/full pattern from the layer "
                         f"index (not from attention.sliding_window_pattern) treat layers {differ} differently; "
                         f"outputs past {window} tokens then differ")
    return notes
