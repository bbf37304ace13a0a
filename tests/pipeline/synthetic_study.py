"""A two-model run dir whose per-item correctness is given, so the verdicts a report must print are known."""

from pathlib import Path

import fastprune.evaluate.runner as eval_runner
from fastprune.evaluate.runner import run_eval
from fastprune.evaluate.task import ItemMetric, TaskResult
from fastprune.pipeline.steps import Step


class FixedTask:
    def __init__(self, name, correct):
        self.name, self.correct = name, correct

    def run(self, lm, limit, seed):
        samples = [{"id": str(i), "prompt": f"item {i}", "correct": bool(c)} for i, c in enumerate(self.correct)]
        return TaskResult({"acc": sum(self.correct) / len(self.correct)}, len(samples), samples, primary="acc",
                          item_metrics={"acc": ItemMetric("correct")}, chance={"acc": 0.5})


def evaluate_fixed(out: Path, tasks) -> Path:
    run_eval(["m"], tasks, out, loader=lambda spec: None, progress=False, log=lambda *a, **k: None)
    return out / "scores.json"


def synthetic_study(run_dir: Path, monkeypatch, recovered: bool = False) -> list[Step]:
    """base and pruned-r10 on arith (n=24, two items lost: noise) and piqa (n=200, 60 lost: resolved); with
    ``recovered``, recovered-r10 too: piqa wins back 40 of the 60 (resolved against pruned), arith nothing."""
    monkeypatch.setattr(eval_runner, "EvalModel", lambda loaded, **kw: None)
    small_base = [1] * 18 + [0] * 6
    small_pruned = [0, 0] + small_base[2:]
    big_base = [1] * 160 + [0] * 40
    big_pruned = [0] * 60 + big_base[60:]
    models = [("base", small_base, big_base), ("pruned-r10", small_pruned, big_pruned)]
    if recovered:
        models.append(("recovered-r10", small_pruned, [1] * 40 + big_pruned[40:]))
    steps = []
    for label, small, big in models:
        out = evaluate_fixed(run_dir / "evaluate" / label, [FixedTask("arith", small), FixedTask("piqa", big)])
        steps.append(Step(f"evaluate/{label}", "evaluate", [], out, label=label))
    return steps
