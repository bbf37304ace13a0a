"""One definition per stage: every `fastprune run` section derives from the stage's options dataclass, so the
stage command and the pipeline agree on every key and default; `fastprune run` calls the stages in-process
with those objects."""

import dataclasses
import json
from pathlib import Path

import pytest

from fastprune.cli import build_parser
from fastprune.errors import FastpruneError
from fastprune.options import option_fields, options_to_mapping, yaml_fields
from fastprune.pipeline import config as pc
from fastprune.pipeline.config import PIPELINE_SETS, RunConfig, config_from_dict
from fastprune.pipeline.steps import build_steps

MINIMAL_ARGV = {
    "calibrate": ["calibrate", "m", "--out", "o"],
    "prune": ["prune", "m", "--strategy", "block", "--ratio", "0.25"],
    "generate": ["generate", "m", "--out", "o.jsonl"],
    "train": ["train", "m", "--data", "d.jsonl", "--out", "o"],
    "bench": ["bench", "m", "--out", "o"],
    "evaluate": ["eval", "m", "--out", "o"],
}
SECTIONS = {"calibrate": pc.CalibrateSection, "prune": pc.PruneSection, "generate": pc.GenerateSection,
            "train": pc.TrainSection, "bench": pc.BenchSection, "evaluate": pc.EvaluateSection}
PIPELINE_OWN = set(yaml_fields(pc.PruneVariants))  # the prune section's variant keys (strategy list, ratios)


def _namespace(argv):
    return build_parser().parse_args(argv)


def _dests(stage):
    command = MINIMAL_ARGV[stage][0]
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    return {a.dest for a in sub._actions if a.dest not in ("help", "threads", "verbosity")}


def _flat_defaults(section) -> dict:
    """The section's YAML defaults by argparse dest: a nested group's keys prefixed with its name (the
    evaluate section's ``ppl: {max_length}`` is ``--ppl-max-length``), tuples as lists, paths as strings."""
    groups = {f.name for f, _, spec in option_fields(type(section))
              if dataclasses.is_dataclass(getattr(section, f.name)) and not spec.flatten}
    out = {}
    for key, value in options_to_mapping(section).items():
        if key in groups:
            out.update({f"{key}_{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def _plain(value):
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, Path) else value


@pytest.mark.parametrize("stage", sorted(MINIMAL_ARGV))
def test_every_cli_default_equals_the_yaml_default(stage):
    args = _namespace(MINIMAL_ARGV[stage])
    yaml_defaults = _flat_defaults(SECTIONS[stage]())
    keys = [k for k in yaml_defaults if k not in PIPELINE_OWN]
    assert keys, stage
    for key in keys:
        assert _plain(getattr(args, key)) == yaml_defaults[key], f"{stage}: --{key.replace('_', '-')}"
    # the run-wide keys the pipeline passes are the stage command's defaults too
    run_wide = options_to_mapping(RunConfig())
    for key in pc.RUN_WIDE:
        assert getattr(args, key) == run_wide[key], f"{stage}: --{key} vs run-wide {key}"
    if stage in ("generate", "bench", "evaluate"):
        for key in yaml_fields(pc.EngineOptions):
            assert getattr(args, key) == run_wide[key], f"{stage}: {key} vs run-wide {key}"


@pytest.mark.parametrize("stage", sorted(MINIMAL_ARGV))
def test_yaml_keys_and_cli_flags_correspond(stage):
    keys = set(_flat_defaults(SECTIONS[stage]())) - PIPELINE_OWN
    dests = _dests(stage)
    assert keys <= dests, f"{stage}: YAML keys without a flag: {sorted(keys - dests)}"
    assert dests - keys == PIPELINE_SETS[stage], f"{stage}: flags without a YAML key must be documented"


def test_extra_args_is_refused_naming_the_key(tmp_path, capsys):
    with pytest.raises(FastpruneError, match=r"'train.extra_args' is gone.*allowed keys in train: mode"):
        config_from_dict({"train": {"extra_args": ["--warmup-steps", "2"]}})
    from fastprune.cli import main

    config = tmp_path / "c.yaml"
    config.write_text("model: tiny:llama:2\nevaluate:\n  extra_args: [--ppl-stride, '256']\n")
    assert main(["run", str(config), "--out", str(tmp_path / "run")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "evaluate.extra_args" in errors[0]
    assert not (tmp_path / "run").exists()


def test_former_extra_args_are_keys(tmp_path):
    config = config_from_dict({"train": {"warmup_steps": 2, "lora_r": 64, "lora_alpha": 16},
                               "evaluate": {"ppl": {"max_length": 256, "stride": 128}, "arith": {"kinds": ["mul1"]}},
                               "calibrate": {"loss_ablation": True, "block": 2}})
    steps = {s.name: s for s in build_steps(config, tmp_path)}
    train = steps["train/r25"].options
    assert (train.warmup_steps, train.lora_r, train.lora_alpha) == (2, 64, 16)
    calibration = steps["calibrate"].options.calibration
    assert calibration.loss_ablation and calibration.block == 2
    evaluate = steps["evaluate/base"].options
    assert (evaluate.ppl.max_length, evaluate.ppl.stride, evaluate.arith.kinds) == (256, 128, ("mul1",))


def test_run_wide_keys_reach_every_step(tmp_path):
    config = config_from_dict({"seed": 7, "device": "cpu", "dtype": "float32", "trust_remote_code": True,
                               "engine": "vllm", "vllm_url": "http://127.0.0.1:1"})
    for step in build_steps(config, tmp_path):
        o = step.options
        load = (o.seed, o.device, o.dtype, o.trust_remote_code) if step.stage == "train" else (
            o.load.seed, o.load.device, o.load.dtype, o.load.trust_remote_code)
        assert load == (7, "cpu", "float32", True), step.name
    generate = next(s for s in build_steps(config, tmp_path) if s.stage == "generate").options
    assert generate.engine.engine == "vllm" and generate.engine.vllm_url == "http://127.0.0.1:1"
    bench = next(s for s in build_steps(config, tmp_path) if s.stage == "bench").options
    assert bench.engine.engine == "fastprune"  # the speed bench; the report reads its bench.json


def test_the_evaluate_step_gets_the_engine(tmp_path, monkeypatch):
    import fastprune.evaluate
    from fastprune.pipeline.steps import run_step

    config = config_from_dict({"model": "tiny:llama:2", "stages": ["evaluate"], "engine": "vllm",
                               "vllm_url": "http://127.0.0.1:1", "vllm_arg": ["--x=1"],
                               "evaluate": {"tasks": ["arith"], "limit": 2, "arith": {"kinds": ["mul1"]}}})
    seen = []
    monkeypatch.setattr(fastprune.evaluate, "run", lambda options: seen.append(options) or {})
    (step,) = build_steps(config, tmp_path)
    assert run_step(step) == 0
    (options,) = seen
    assert isinstance(options, fastprune.evaluate.EvaluateOptions)
    engine = options.engine
    assert engine.engine == "vllm" and engine.vllm_url == "http://127.0.0.1:1" and engine.vllm_arg == ["--x=1"]
    assert options.models == ["tiny:llama:2"] and options.tasks == ["arith"] and options.arith.kinds == ("mul1",)


def test_run_calls_each_stage_in_process_with_its_options(tmp_path, monkeypatch):
    import fastprune.bench
    import fastprune.calibrate
    import fastprune.prune
    from fastprune.bench import BenchOptions
    from fastprune.calibrate import CalibrateOptions
    from fastprune.pipeline.runner import run_study
    from fastprune.prune import PruneOptions

    corpus = tmp_path / "c.txt"
    corpus.write_text("some text\n")
    received = []

    def fake(kind, write):
        def run(options):
            assert isinstance(options, kind)
            received.append(options)
            write(options)
            return 0
        return run

    def write_dir(name):
        def write(options):
            out = tmp_path / options.out
            out.mkdir(parents=True, exist_ok=True)
            (out / name).write_text("{}")
        return write

    monkeypatch.setattr(fastprune.calibrate, "run", fake(CalibrateOptions, write_dir("importance.json")))
    monkeypatch.setattr(fastprune.prune, "run", fake(PruneOptions, write_dir("config.json")))
    monkeypatch.setattr(fastprune.bench, "run", fake(BenchOptions, write_dir("bench.json")))
    monkeypatch.setattr("fastprune.pipeline.report.write_report", lambda *a: None)
    config = config_from_dict({"model": "tiny:llama:4", "stages": ["calibrate", "prune", "bench"], "device": "cpu",
                               "calibrate": {"data": str(corpus), "batch_size": 3, "taylor": True},
                               "prune": {"ratios": [0.25], "metric": "angular"}, "bench": {"repeats": 2}})
    run_dir = tmp_path / "run"
    run_study(config, run_dir)
    calibrate, prune, bench = received
    assert calibrate.model == "tiny:llama:4" and calibrate.out == str(run_dir / "calibrate")
    assert calibrate.calibration.batch_size == 3 and calibrate.calibration.taylor and calibrate.load.device == "cpu"
    assert prune.strategy == "block" and prune.ratio == 0.25 and prune.metric == "angular"
    assert prune.importance == str(run_dir / "calibrate" / "importance.json")
    assert bench.models == ["tiny:llama:4", str(run_dir / "prune" / "r25")] and bench.repeats == 2
    manifest = json.loads((run_dir / "manifest.json").read_text())
    recorded = manifest["steps"]["calibrate"]["options"]
    assert recorded == options_to_mapping(calibrate, yaml_only=False) and recorded["batch_size"] == 3
    assert "argv" not in manifest["steps"]["calibrate"]
    command = manifest["steps"]["calibrate"]["command"]
    assert command[:2] == ["calibrate", "tiny:llama:4"] and command[command.index("--batch-size") + 1] == "3"
    # resumable: a second run finds every step done and calls no stage
    received.clear()
    run_study(config, run_dir)
    assert received == []


def test_a_manifest_of_the_argv_era_is_refused(tmp_path):
    from fastprune.pipeline.config import config_to_dict
    from fastprune.pipeline.manifest import Manifest

    config = config_from_dict({"model": "tiny:llama:2", "stages": ["bench"]})
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text(json.dumps({
        "config": config_to_dict(config),
        "steps": {"bench": {"stage": "bench", "status": "done", "argv": ["bench", "tiny:llama:2"]}}}))
    with pytest.raises(FastpruneError, match=r"earlier fastprune.*\(argv\).*new --out"):
        Manifest(run_dir, config_to_dict(config))


@pytest.mark.parametrize("name", ["demo.yaml", "study-smollm2.yaml", "paper-llama3.1-8b.yaml"])
def test_each_step_command_parses_back_to_the_steps_options(name, tmp_path):
    """The command a step logs (and the manifest records) is the stage command that does the same."""
    from pathlib import Path

    from fastprune.options import options_from_args
    from fastprune.pipeline.config import load_config
    from fastprune.pipeline.steps import step_command

    config = load_config(Path(__file__).resolve().parents[2] / "configs" / name)
    for step in build_steps(config, tmp_path):
        command = step_command(step)
        args = _namespace(command)
        assert options_from_args(type(step.options), args) == step.options, step.name


def test_a_quiet_run_turns_every_steps_progress_bars_off(tmp_path, monkeypatch):
    import fastprune.calibrate
    import fastprune.evaluate
    import fastprune.prune
    from fastprune import log
    from fastprune.pipeline.steps import run_step

    seen = []
    for stage in (fastprune.calibrate, fastprune.prune, fastprune.evaluate):
        monkeypatch.setattr(stage, "run", lambda options: seen.append(options) or 0)
    config = config_from_dict({"model": "tiny:llama:4", "stages": ["calibrate", "prune", "evaluate"]})
    steps = [s for s in build_steps(config, tmp_path) if s.name in ("calibrate", "prune/r25", "evaluate/base")]
    for step in steps:
        run_step(step)
    assert [seen[0].calibration.progress, seen[1].progress, seen[2].progress] == [True, True, True]
    seen.clear()
    log.configure(log.QUIET)
    for step in steps:
        run_step(step)
    assert [seen[0].calibration.progress, seen[1].progress, seen[2].progress] == [False, False, False]
    assert steps[0].options.calibration.progress  # the step's own options are left as they were
