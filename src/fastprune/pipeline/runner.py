"""Execute the study's steps in order, skipping finished ones, recording everything in the manifest."""

from __future__ import annotations

import logging
import shlex
import shutil
import time
from pathlib import Path

from fastprune.errors import FastpruneError
from fastprune.options import options_to_mapping
from fastprune.pipeline.config import STAGE_ORDER, RunConfig, config_to_dict
from fastprune.pipeline.manifest import Manifest
from fastprune.pipeline.steps import Step, build_steps, run_step, step_command
from fastprune.utils_io import require_output_dir

logger = logging.getLogger(__name__)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _step_root(step: Step, run_dir: Path) -> Path:
    """The folder (or file) a step owns inside the run dir, removed when the step is redone."""
    rel = step.output.relative_to(run_dir)
    if step.stage in ("calibrate", "bench"):
        return run_dir / rel.parts[0]
    if step.stage == "evaluate":
        return step.output.parent
    return step.output


def _check_inputs(config: RunConfig, stages: set[str]) -> None:
    """Read the user's own inputs of the stages still to run now, so a missing prompts file fails before
    an hour of calibration, not after it."""
    if "calibrate" in stages:
        from fastprune.data import open_source

        c = config.calibrate
        open_source(c.data, field=c.field, template=c.template, split=c.split,
                    text_mode="whole" if c.whole_file else "lines")
    if "generate" in stages:
        from fastprune.generate import load_prompts

        g = config.generate
        load_prompts(g.prompts, field=g.field, template=g.template, split=g.split, limit=g.limit)


def run_study(config: RunConfig, run_dir: str | Path, from_stage: str | None = None) -> Manifest:
    """Run every step of ``config`` into ``run_dir``; return the manifest. Re-running resumes."""
    from fastprune.models.checkpoint_files import check_model_spec
    from fastprune.pipeline.report import write_report

    check_model_spec(config.model)  # a broken model fails before the run dir exists
    run_dir = require_output_dir(run_dir)
    steps = build_steps(config, run_dir)  # a bad stage setting fails here, before the run dir exists
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    redo_sections: frozenset[str] = frozenset()
    if from_stage is not None:
        if from_stage not in STAGE_ORDER:
            raise FastpruneError(f"--from {from_stage!r}: unknown stage; stages: {', '.join(STAGE_ORDER)}")
        redo_sections = frozenset(STAGE_ORDER[STAGE_ORDER.index(from_stage):])
        if from_stage == STAGE_ORDER[0]:
            # Redoing everything: any setting may change, the run-wide ones included.
            redo_sections |= frozenset(config_to_dict(config))
    manifest = Manifest(run_dir, config_to_dict(config), redo_sections)
    if from_stage is not None:
        redo = [s for s in steps if STAGE_ORDER.index(s.stage) >= STAGE_ORDER.index(from_stage)]
        for step in redo:
            _remove(_step_root(step, run_dir))
        manifest.forget([s.name for s in redo])
    todo = [s for s in steps if not (manifest.is_done(s.name) and s.output.exists())]
    try:
        _check_inputs(config, {s.stage for s in todo})
    except FastpruneError:
        if created:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    logger.info(f"fastprune run: {len(steps) - len(todo)} of {len(steps)} steps already done in {run_dir}")
    for index, step in enumerate(todo, 1):
        command = step_command(step)
        logger.info(f"\n=== [{index}/{len(todo)}] {step.name}: fastprune {shlex.join(command)}")
        manifest.start(step.name, step.stage, options_to_mapping(step.options, yaml_only=False), command)
        t0 = time.perf_counter()
        try:
            code = run_step(step)
        except FastpruneError as exc:
            # One error line: the step and its cause together.
            manifest.fail(step.name, str(exc))
            raise FastpruneError(f"step {step.name} failed: {exc}; fix the cause and re-run the same command "
                                 "to resume") from exc
        except Exception as exc:
            manifest.fail(step.name, f"{type(exc).__name__}: {exc}")
            raise
        if code != 0 or not step.output.exists():
            message = f"exit code {code}" if code != 0 else f"it did not write {step.output}"
            manifest.fail(step.name, message)
            raise FastpruneError(f"step {step.name} failed ({message}); fix the cause and re-run the same "
                                 "command to resume")
        manifest.finish(step.name, [step.output], time.perf_counter() - t0)
    write_report(run_dir, config, steps, manifest)
    return manifest
