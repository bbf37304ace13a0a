"""The study as a list of steps: each one stage with its options object, output and done-check.

A step's options are the stage's own dataclass (``fastprune.calibrate.CalibrateOptions`` ...): its YAML
section plus what the pipeline sets (the model, the inputs written by earlier steps, the output, the
run-wide keys). ``run_step`` calls the stage's public ``run`` in this process. Steps still talk only
through files (importance.json, checkpoint dirs, JSONL, scores.json), exactly as a user running the stage
commands by hand would, so any stage can be swapped for an outside tool.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastprune import log
from fastprune.bench import BenchOptions
from fastprune.calibrate import CalibrateOptions
from fastprune.evaluate import EvaluateOptions
from fastprune.generate import GenerateOptions
from fastprune.options import options_from_section, options_to_argv
from fastprune.pipeline.config import RunConfig
from fastprune.prune import PruneOptions
from fastprune.train import TrainConfig


@dataclass
class Step:
    name: str  # unique within the run, e.g. "prune/r25"
    stage: str  # one of STAGE_ORDER
    options: Any  # the stage's options object, handed to fastprune.<stage>.run
    output: Path  # the file or dir whose existence (with a done status) marks the step finished
    label: str | None = None  # model label for evaluation/report ("base", "pruned-r25", "recovered-r25")


COMMAND_NAMES = {"evaluate": "eval"}  # the stage whose command is spelled otherwise


def ratio_tag(ratio: float) -> str:
    return f"r{round(ratio * 100):02d}"


def variant_tag(strategy: str, ratio: float, several_strategies: bool) -> str:
    """``r25`` with one strategy (the layout of earlier runs), ``bi-r25`` when a study compares several."""
    return f"{strategy}-{ratio_tag(ratio)}" if several_strategies else ratio_tag(ratio)


def build_steps(config: RunConfig, run_dir: Path) -> list[Step]:
    """Every step the config asks for, in execution order."""
    c = config
    load = c.load
    steps: list[Step] = []
    enabled = set(c.stages)
    importance = run_dir / "calibrate" / "importance.json"
    if "calibrate" in enabled:
        steps.append(Step("calibrate", "calibrate", options_from_section(
            CalibrateOptions, c.calibrate, model=c.model, out=str(run_dir / "calibrate"), load=load), importance))
    strategies = c.prune.strategies
    variants = [(s, r) for s in strategies for r in c.prune.ratios]
    tags = {v: variant_tag(*v, len(strategies) > 1) for v in variants}
    pruned: dict[tuple[str, float], Path] = {}
    if "prune" in enabled:
        for strategy, ratio in variants:
            tag = tags[strategy, ratio]
            out = run_dir / "prune" / tag
            pruned[strategy, ratio] = out
            steps.append(Step(f"prune/{tag}", "prune", options_from_section(
                PruneOptions, c.prune, model=c.model, strategy=strategy, ratio=ratio, out=str(out), load=load,
                importance=str(importance) if strategy in ("block", "bi") else None,
                vllm_python=c.engine.vllm_python,
            ), out, label=f"pruned-{tag}"))
    responses = run_dir / "generate" / "self_responses.jsonl"
    if "generate" in enabled:
        steps.append(Step("generate", "generate", options_from_section(
            GenerateOptions, c.generate, model=c.model, out=str(responses), load=load, engine=c.engine,
        ), responses))
    recovered: dict[tuple[str, float], Path] = {}
    if "train" in enabled and pruned:
        for variant, pruned_dir in pruned.items():
            tag = tags[variant]
            out = run_dir / "train" / tag
            recovered[variant] = out
            steps.append(Step(f"train/{tag}", "train", options_from_section(
                TrainConfig, c.train, model=str(pruned_dir), data=str(responses), out=str(out), seed=load.seed,
                dtype=load.dtype, device=load.device, trust_remote_code=load.trust_remote_code,
            ), out, label=f"recovered-{tag}"))
    if "evaluate" in enabled:
        models = [("base", c.model)]
        for variant in variants:
            if variant in pruned:
                models.append((f"pruned-{tags[variant]}", str(pruned[variant])))
            if variant in recovered:
                models.append((f"recovered-{tags[variant]}", str(recovered[variant])))
        for label, model in models:
            out = run_dir / "evaluate" / label
            steps.append(Step(f"evaluate/{label}", "evaluate", options_from_section(
                EvaluateOptions, c.evaluate, models=[model], out=out, load=load, engine=c.engine,
            ), out / "scores.json", label=label))
    if "bench" in enabled:
        steps.append(Step("bench", "bench", options_from_section(
            BenchOptions, c.bench, models=[c.model, *[str(pruned[v]) for v in variants if v in pruned]],
            out=str(run_dir / "bench"), load=load,
        ), run_dir / "bench" / "bench.json"))
    return steps


def run_step(step: Step) -> int:
    """Run one step in this process: the stage's public ``run`` with the step's options object."""
    stage = importlib.import_module(f"fastprune.{step.stage}")
    options = step.options
    if log.configured() == log.QUIET:  # `fastprune -q run`: no stage draws progress bars either
        options = without_progress(options)
    result = stage.run(options)
    return 0 if step.stage == "evaluate" else int(result or 0)  # evaluate returns its scores


def without_progress(options: Any) -> Any:
    """A copy of ``options`` with every ``progress`` switch (its own or a nested group's) off."""
    changes = {}
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        if f.name == "progress" and isinstance(value, bool):
            changes[f.name] = False
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes[f.name] = without_progress(value)
    return dataclasses.replace(options, **changes)


def step_command(step: Step) -> list[str]:
    """The ``fastprune ...`` command that runs the same step by hand (what the log and manifest show)."""
    return [COMMAND_NAMES.get(step.stage, step.stage), *options_to_argv(step.options)]
