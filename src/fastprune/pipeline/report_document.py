"""``RUN/report.json``: every number ``report.md`` shows, in one document a script can read back.

The markdown is for people; this is what the README's study block and any later comparison are regenerated
from. It records where each number came from: the code version each evaluation and the bench ran at (from
their own provenance), and the code that rendered the report, which may be later than the measurements
when a finished run is re-rendered.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastprune.evaluate import PairedComparison
from fastprune.pipeline.config import RunConfig, config_to_dict
from fastprune.pipeline.manifest import Manifest
from fastprune.pipeline.steps import Step
from fastprune.provenance import run_provenance

_STEP_FIELDS = ("stage", "status", "seconds", "attempts", "code", "command")  # code: commit + dirty at start


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _measured_at(steps: list[Step], bench: dict | None) -> dict[str, dict]:
    """step label or "bench" -> the provenance its own result file recorded."""
    out = {}
    for step in steps:
        if step.stage == "evaluate":
            run_info = _read_json(step.output.parent / "run.json") or {}
            if run_info.get("provenance"):
                out[step.label] = run_info["provenance"]
    if bench and bench.get("provenance"):
        out["bench"] = bench["provenance"]
    return out


def _as_dicts(comparisons: dict[str, dict[str, PairedComparison]]) -> dict[str, dict[str, dict]]:
    return {label: {task: c.as_dict() for task, c in by_task.items()} for label, by_task in comparisons.items()}


def report_document(run_dir: Path, config: RunConfig, steps: list[Step], manifest: Manifest,
                    pruned: dict[str, dict], scores: dict[str, dict], primaries: dict[str, tuple[str, bool]],
                    comparisons: dict[str, dict[str, PairedComparison]], notes: list[str],
                    recovery: dict[str, dict[str, PairedComparison]] | None = None) -> dict:
    """``pruned``: what each pruned checkpoint records (``collect_pruned``); ``comparisons``: each model
    against the base; ``recovery``: each recovered model against its pruned one."""
    bench = _read_json(run_dir / "bench" / "bench.json")
    ran = {name: {k: rec.get(k) for k in _STEP_FIELDS} for name, rec in manifest.steps.items()}
    seconds = [rec["seconds"] for rec in ran.values() if rec["status"] == "done" and rec["seconds"] is not None]
    return {
        "model": config.model,
        "config": config_to_dict(config),
        "rendered_by": run_provenance(),
        "measured_at": _measured_at(steps, bench),
        "steps": ran,
        "total_seconds": round(sum(seconds), 2),
        "pruned": pruned,
        "primaries": {task: {"metric": metric, "higher_is_better": higher}
                      for task, (metric, higher) in primaries.items()},
        "scores": scores,
        "comparisons": _as_dicts(comparisons),
        "recovery": _as_dicts(recovery or {}),
        "comparison_notes": notes,
        "bench": bench,
    }
