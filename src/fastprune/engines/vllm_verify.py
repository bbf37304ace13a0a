"""Does a saved checkpoint load in vLLM unchanged, and does vLLM decode it as HF does?

For each checkpoint: HF (plain ``transformers``, float32) decodes a few prompts greedily with its KV cache;
one vLLM process (``vllm_offline.py`` under the vLLM Python, loading the checkpoints in turn, so the ~1 min
vLLM start is paid once) decodes the same token ids greedily. The first ``max_tokens`` tokens must be
equal. Where they differ, HF's margin between its top two logits at that step is reported: a near-tie
(random tiny models have them) is a rounding difference, a large margin is a real disagreement.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from fastprune.engines.process_group import die_with_parent, signal_group, sigterm_raises
from fastprune.engines.vllm_server import ServerOptions, cpu_env, resolve_python, tail
from fastprune.errors import FastpruneError
from fastprune.utils_io import atomic_write_json

SCRIPT = Path(__file__).with_name("vllm_offline.py")
PROBE_TEXTS = ("The capital of France is", "Question: 12 + 30 = ?\nAnswer:", "def add(a, b):\n    return")
NEAR_TIE = 1e-3  # logit margin below which a flipped argmax is rounding, not a bug


def probe_prompts(tokenizer, vocab_size: int, seed: int = 0) -> list[list[int]]:
    import torch

    if tokenizer is not None:
        return [list(tokenizer(text)["input_ids"]) for text in PROBE_TEXTS]
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, vocab_size, (n,), generator=g).tolist() for n in (12, 7, 9)]


def hf_greedy(model, prompt: list[int], max_tokens: int) -> tuple[list[int], list[float]]:
    """Greedy tokens with the KV cache (EOS not special: vLLM is asked to ignore it too) and, per step,
    the margin between the top two logits."""
    import torch

    tokens, margins = [], []
    ids = torch.tensor([prompt])
    past = None
    with torch.inference_mode():
        for _ in range(max_tokens):
            out = model(input_ids=ids, past_key_values=past, use_cache=True)
            past = out.past_key_values
            logits = out.logits[0, -1].float()
            top = torch.topk(logits, 2)
            tokens.append(int(top.indices[0]))
            margins.append(float(top.values[0] - top.values[1]))
            ids = top.indices[:1].view(1, 1)
    return tokens, margins


def hf_reference(path: str, max_tokens: int) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(path, dtype="float32").eval()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError):
        tokenizer = None
    prompts = probe_prompts(tokenizer, model.config.get_text_config().vocab_size)
    runs = [hf_greedy(model, p, max_tokens) for p in prompts]
    return {"prompts": prompts, "tokens": [t for t, _ in runs], "margins": [m for _, m in runs],
            "architecture": (model.config.architectures or [type(model).__name__])[0]}


def run_offline(job: dict, python: str, work_dir: Path, options: ServerOptions, timeout: float) -> dict:
    """Run the vLLM job in its own process group (killed whole on timeout or error); its JSON result."""
    work_dir.mkdir(parents=True, exist_ok=True)
    job_path, result_path, log_path = work_dir / "vllm-verify-job.json", work_dir / "vllm-verify-result.json", \
        work_dir / "vllm-verify.log"
    atomic_write_json(job_path, job)
    env = {**os.environ, **cpu_env(options), "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)
    with open(log_path, "wb") as log:
        process = subprocess.Popen([python, str(SCRIPT), str(job_path), str(result_path)], stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                   start_new_session=True, preexec_fn=die_with_parent)
    try:
        with sigterm_raises():
            code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise FastpruneError(f"vLLM verification did not finish in {timeout:g} s; log {log_path}") from None
    finally:
        # On success, error, timeout or Ctrl-C alike: nothing of the vLLM process group may stay behind.
        signal_group(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    if code != 0 or not result_path.exists():
        raise FastpruneError(f"the vLLM verification process failed (exit {code}); last lines of {log_path}:\n"
                             f"{tail(log_path)}")
    return json.loads(result_path.read_text())


def compare(reference: dict, result: dict | None) -> dict:
    if result is None:
        return {"ok": False, "error": "vLLM produced no result for this checkpoint"}
    if not result.get("ok"):
        return {"ok": False, "error": result.get("error"), "loads_in_vllm": False}
    rows = []
    for hf, got, margins in zip(reference["tokens"], result["tokens"], reference["margins"], strict=True):
        mismatch = next((i for i, (a, b) in enumerate(zip(hf, got, strict=False)) if a != b),
                        None if len(hf) == len(got) else min(len(hf), len(got)))
        row = {"hf": hf, "vllm": got, "first_mismatch": mismatch}
        if mismatch is not None and mismatch < len(margins):
            row["hf_margin_at_mismatch"] = margins[mismatch]
            row["near_tie"] = margins[mismatch] < NEAR_TIE
        rows.append(row)
    ok = all(r["first_mismatch"] is None for r in rows)
    return {"ok": ok, "loads_in_vllm": True, "load_seconds": result.get("load_seconds"), "prompts": rows,
            "tokens_compared": sum(len(r["hf"]) for r in rows),
            "only_near_ties": not ok and all(r.get("near_tie", True) for r in rows)}


def verify_in_vllm(checkpoints: list[str], python: str | None, work_dir: str | os.PathLike, max_tokens: int = 8,
                   options: ServerOptions | None = None, timeout: float = 1800.0) -> dict:
    """Report ``{"vllm_version", "seconds", "checkpoints": {path: {...ok...}}}``; never raises on a
    checkpoint that fails (that is its result), only when vLLM cannot run at all."""
    python = resolve_python(python)
    options = options or ServerOptions()
    started = time.monotonic()
    references = {str(Path(c).resolve()): hf_reference(str(c), max_tokens) for c in checkpoints}
    longest = max(len(p) for r in references.values() for p in r["prompts"])
    job = {"checkpoints": [{"path": c, "prompts": r["prompts"]} for c, r in references.items()],
           "max_tokens": max_tokens, "max_model_len": max(64, longest + max_tokens), "dtype": "float32"}
    result = run_offline(job, python, Path(work_dir), options, timeout)
    report = {"vllm_version": result.get("vllm_version"), "cpu_binding": cpu_env(options), "checkpoints": {}}
    for path, ref in references.items():
        entry = compare(ref, result["results"].get(path))
        entry["architecture"] = ref["architecture"]
        report["checkpoints"][path] = entry
    report["seconds"] = round(time.monotonic() - started, 1)
    return report


def summary_line(path: str, entry: dict) -> str:
    if entry["ok"]:
        return f"{path}: loads in vLLM, greedy output equals HF's ({entry['tokens_compared']} tokens)"
    if not entry.get("loads_in_vllm"):
        return f"{path}: does NOT load in vLLM: {entry.get('error')}"
    what = "only at near-ties of HF's logits" if entry.get("only_near_ties") else "at decisive tokens"
    return f"{path}: loads in vLLM but its greedy output differs from HF's {what}"
