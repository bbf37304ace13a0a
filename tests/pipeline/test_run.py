"""End to end: the whole study on a tiny model, then a second invocation that has nothing left to do."""

import json

import pytest

from fastprune.errors import FastpruneError
from fastprune.pipeline.config import config_from_dict
from fastprune.pipeline.runner import run_study


def tiny_study(shared_data: str) -> dict:
    return {
        "model": "tiny:llama:6",
        "dtype": "float32",
        "device": "cpu",
        "calibrate": {"data": f"{shared_data}/wikitext2/valid.txt", "seq_len": 32, "max_tokens": 512,
                      "batch_size": 4},
        "prune": {"strategy": "block", "ratios": [0.34]},
        "generate": {"prompts": f"{shared_data}/gsm8k/train.jsonl", "field": "question", "limit": 4,
                     "max_new_tokens": 8, "batch_size": 4},
        "train": {"mode": "lora", "max_steps": 2, "batch_size": 2, "max_seq_len": 512},
        "evaluate": {"tasks": ["arith", "piqa"], "limit": 4, "batch_size": 4, "max_new_tokens": 8},
        "bench": {"batch_sizes": [1], "prompt_len": 8, "new_tokens": 3, "repeats": 1},
    }


@pytest.mark.slow
def test_study_runs_end_to_end_and_resumes(tmp_path, shared_data, monkeypatch):
    config = config_from_dict(tiny_study(shared_data))
    run_dir = tmp_path / "run"
    manifest = run_study(config, run_dir)
    statuses = {name: step["status"] for name, step in manifest.steps.items()}
    assert set(statuses.values()) == {"done"}, statuses
    assert set(statuses) == {"calibrate", "prune/r34", "generate", "train/r34", "evaluate/base",
                             "evaluate/pruned-r34", "evaluate/recovered-r34", "bench"}
    report = (run_dir / "report.md").read_text()
    for needle in ("## Layer similarity", "## Pruned layers", "## Scores", "## Speed", "## What ran",
                   "pruned-r34", "recovered-r34"):
        assert needle in report
    # Each row shows the primary metric the evaluation stage recorded for its task.
    assert "| piqa (n=4) | acc_norm (chance 50%) |" in report and "| arith (n=4) | exact_match (chance 0%) |" in report
    assert "## Differences from base" in report and "recovered-r34 | piqa |" in report
    run_info = json.loads((run_dir / "evaluate" / "base" / "run.json").read_text())
    assert run_info["primary"]["piqa"] == {"metric": "acc_norm", "higher_is_better": True}
    pruned_cfg = json.loads((run_dir / "prune" / "r34" / "config.json").read_text())
    assert pruned_cfg["num_hidden_layers"] == 4
    assert (run_dir / "calibrate" / "heatmap.png").is_file() and (run_dir / "bench" / "speedup.png").is_file()

    # A second invocation finds everything done and runs no stage at all.
    import fastprune.pipeline.runner as runner

    def no_stage(step):
        raise AssertionError(f"stage re-ran: {step.name}")

    monkeypatch.setattr(runner, "run_step", no_stage)
    run_study(config, run_dir)

    # --from redoes that stage and the later ones only.
    monkeypatch.undo()
    seen = []
    real_run_step = runner.run_step

    def spy(step):
        seen.append(step.stage)
        return real_run_step(step)

    monkeypatch.setattr(runner, "run_step", spy)
    run_study(config, run_dir, from_stage="bench")
    assert seen == ["bench"]


def test_other_config_in_same_dir_is_refused(tmp_path, shared_data):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = config_from_dict({**tiny_study(shared_data), "stages": ["calibrate"]})
    from fastprune.pipeline.config import config_to_dict
    from fastprune.pipeline.manifest import Manifest

    Manifest(run_dir, config_to_dict(config)).save()
    other = config_from_dict({**tiny_study(shared_data), "stages": ["calibrate"], "seed": 7})
    with pytest.raises(FastpruneError, match=r"another config \(changed: seed\)"):
        run_study(other, run_dir)


def test_from_stage_accepts_changes_in_redone_stages_only(tmp_path, shared_data, monkeypatch):
    from fastprune.pipeline.config import config_to_dict
    from fastprune.pipeline.manifest import Manifest

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    base = {**tiny_study(shared_data), "stages": ["calibrate", "bench"]}
    manifest = Manifest(run_dir, config_to_dict(config_from_dict(base)))
    manifest.steps["calibrate"] = {"status": "done"}
    manifest.save()
    (run_dir / "calibrate").mkdir()
    (run_dir / "calibrate" / "importance.json").write_text("{}")
    changed_calibration = config_from_dict({**base, "calibrate": {**base["calibrate"], "seq_len": 16}})
    with pytest.raises(FastpruneError, match=r"changed: calibrate"):
        run_study(changed_calibration, run_dir, from_stage="bench")
    import fastprune.pipeline.runner as runner

    seen = []
    monkeypatch.setattr(runner, "run_step", lambda step: seen.append(step.stage) or 1)
    changed_bench = config_from_dict({**base, "bench": {**base["bench"], "repeats": 2}})
    with pytest.raises(FastpruneError, match="step bench failed"):
        run_study(changed_bench, run_dir, from_stage="bench")
    assert seen == ["bench"]


def test_missing_input_fails_before_the_run_dir_exists(tmp_path):
    config = config_from_dict({"model": "tiny:llama:4", "stages": ["calibrate"], "device": "cpu",
                               "calibrate": {"data": str(tmp_path / "missing.txt")}})
    with pytest.raises(FastpruneError, match="data file not found"):
        run_study(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_failed_stage_is_recorded_and_named(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("some text\n")
    config = config_from_dict({"model": "tiny:llama:4", "stages": ["calibrate"], "device": "cpu",
                               "calibrate": {"data": str(corpus), "loss_ablation": True, "block": 9}})
    with pytest.raises(FastpruneError, match="step calibrate failed: --block 9 must be between 1 and"):
        run_study(config, tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["steps"]["calibrate"]["status"] == "failed"
    assert "--block 9" in json.dumps(manifest["steps"]["calibrate"])


def test_failed_stage_is_one_error_line(tmp_path, capsys):
    from fastprune.cli import main

    corpus = tmp_path / "c.txt"
    corpus.write_text("some text\n")
    config = tmp_path / "study.yaml"
    bad_block = {"loss_ablation": True, "block": 9}
    config.write_text(json.dumps({"model": "tiny:llama:4", "stages": ["calibrate"], "device": "cpu",
                                  "calibrate": {"data": str(corpus), **bad_block}}))
    assert main(["run", str(config), "--out", str(tmp_path / "run")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "step calibrate failed: --block 9" in errors[0]


def test_input_check_reads_prompts_as_the_stage_will(tmp_path):
    """The template key is what the generate step uses, so the early check uses it too."""
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"id": "a", "q": "say hi"}) + "\n")
    config = config_from_dict({"model": "tiny:llama:2", "stages": ["generate"], "device": "cpu",
                               "generate": {"prompts": str(prompts), "limit": 1, "max_new_tokens": 2,
                                            "template": "Q: {q}"}})
    run_study(config, tmp_path / "run")
    (row,) = [json.loads(line) for line in (tmp_path / "run" / "generate" / "self_responses.jsonl").open()]
    assert row["id"] == "a" and row["prompt"] == [{"role": "user", "content": "Q: say hi"}]
