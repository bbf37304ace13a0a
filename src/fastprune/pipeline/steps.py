"""The study as a list of steps: each one stage command with its arguments, output and done-check.

Steps talk only through files (importance.json, checkpoint dirs, JSONL, scores.json), exactly as a user
running the stage commands by hand would, so any stage can be swapped for an outside tool.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastprune.pipeline.config import RunConfig


@dataclass
class Step:
    name: str  # unique within the run, e.g. "prune/r25"
    stage: str  # one of STAGE_ORDER
    argv: list[str]  # arguments of `fastprune ...`
    output: Path  # the file or dir whose existence (with a done status) marks the step finished
    label: str | None = None  # model label for evaluation/report ("base", "pruned-r25", "recovered-r25")


def ratio_tag(ratio: float) -> str:
    return f"r{round(ratio * 100):02d}"


def variant_tag(strategy: str, ratio: float, several_strategies: bool) -> str:
    """``r25`` with one strategy (the layout of earlier runs), ``bi-r25`` when a study compares several."""
    return f"{strategy}-{ratio_tag(ratio)}" if several_strategies else ratio_tag(ratio)


def _opt(flag: str, value) -> list[str]:
    return [] if value is None else [flag, str(value)]


def build_steps(config: RunConfig, run_dir: Path) -> list[Step]:
    """Every step the config asks for, in execution order."""
    c = config
    common = ["--dtype", c.dtype, "--device", c.device]
    steps: list[Step] = []
    enabled = set(c.stages)
    importance = run_dir / "calibrate" / "importance.json"
    if "calibrate" in enabled:
        steps.append(Step("calibrate", "calibrate", [
            "calibrate", c.model, "--data", c.calibrate.data, "--out", str(run_dir / "calibrate"),
            "--seq-len", str(c.calibrate.seq_len), "--max-tokens", str(c.calibrate.max_tokens),
            "--batch-size", str(c.calibrate.batch_size), "--seed", str(c.seed),
            *_opt("--field", c.calibrate.field), *_opt("--template", c.calibrate.template),
            *common, *c.calibrate.extra_args,
        ], importance))
    strategies = c.prune.strategies
    variants = [(s, r) for s in strategies for r in c.prune.ratios]
    tags = {v: variant_tag(*v, len(strategies) > 1) for v in variants}
    pruned: dict[tuple[str, float], Path] = {}
    if "prune" in enabled:
        for strategy, ratio in variants:
            tag = tags[strategy, ratio]
            out = run_dir / "prune" / tag
            pruned[strategy, ratio] = out
            importance_args = ["--importance", str(importance)] if strategy in ("block", "bi") else []
            steps.append(Step(f"prune/{tag}", "prune", [
                "prune", c.model, *importance_args, "--strategy", strategy, "--ratio", str(ratio),
                "--out", str(out), *common, *c.prune.extra_args,
            ], out, label=f"pruned-{tag}"))
    responses = run_dir / "generate" / "self_responses.jsonl"
    if "generate" in enabled:
        g = c.generate
        steps.append(Step("generate", "generate", [
            "generate", c.model, "--prompts", g.prompts, "--out", str(responses), "--limit", str(g.limit),
            "--max-new-tokens", str(g.max_new_tokens), "--batch-size", str(g.batch_size),
            "--temperature", str(g.temperature), "--top-p", str(g.top_p), "--seed", str(c.seed),
            *_opt("--field", g.field), *_opt("--system-prompt", g.system_prompt), *common, *g.extra_args,
        ], responses))
    recovered: dict[tuple[str, float], Path] = {}
    if "train" in enabled and pruned:
        t = c.train
        for variant, pruned_dir in pruned.items():
            tag = tags[variant]
            out = run_dir / "train" / tag
            recovered[variant] = out
            steps.append(Step(f"train/{tag}", "train", [
                "train", str(pruned_dir), "--data", str(responses), "--mode", t.mode, "--out", str(out),
                "--epochs", str(t.epochs), *_opt("--max-steps", t.max_steps), *_opt("--lr", t.lr),
                "--batch-size", str(t.batch_size), "--grad-accum", str(t.grad_accum),
                "--max-seq-len", str(t.max_seq_len), "--seed", str(c.seed), *common, *t.extra_args,
            ], out, label=f"recovered-{tag}"))
    if "evaluate" in enabled:
        e = c.evaluate
        models = [("base", c.model)]
        for variant in variants:
            if variant in pruned:
                models.append((f"pruned-{tags[variant]}", str(pruned[variant])))
            if variant in recovered:
                models.append((f"recovered-{tags[variant]}", str(recovered[variant])))
        for label, model in models:
            out = run_dir / "evaluate" / label
            steps.append(Step(f"evaluate/{label}", "evaluate", [
                "eval", model, "--tasks", ",".join(e.tasks), "--out", str(out), "--seed", str(c.seed),
                "--batch-size", str(e.batch_size), *_opt("--limit", e.limit),
                *(["--task-limits", ",".join(f"{k}={v}" for k, v in e.task_limits.items())]
                  if e.task_limits else []),
                *_opt("--max-new-tokens", e.max_new_tokens),
                *(["--allow-unsandboxed-exec"] if e.allow_unsandboxed_exec else []), *common, *e.extra_args,
            ], out / "scores.json", label=label))
    if "bench" in enabled:
        b = c.bench
        steps.append(Step("bench", "bench", [
            "bench", c.model, *[str(pruned[v]) for v in variants if v in pruned],
            "--batch-sizes", ",".join(map(str, b.batch_sizes)), "--prompt-len", str(b.prompt_len),
            "--new-tokens", str(b.new_tokens), "--repeats", str(b.repeats), "--rounds", str(b.rounds),
            "--out", str(run_dir / "bench"), "--hf-variants", ",".join(b.hf_variants),
            "--max-interval-width", str(b.max_interval_width), "--max-cv", str(b.max_cv),
            *(["--compare-hf"] if b.compare_hf else []), *common, *b.extra_args,
        ], run_dir / "bench" / "bench.json"))
    return steps
