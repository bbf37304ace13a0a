"""Bad input through every sub-command: one ``error:`` line naming the problem, exit 2, nothing written.

Each case runs the real CLI in-process on tiny models (most fail before any model loads, so the whole
table takes seconds). ``work`` is the only place a command may write; it must be unchanged afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fastprune.cli import main
from tests.models.corrupt_checkpoints import CORRUPTIONS, make_corrupt, save_tiny

STAGES = ("info", "calibrate", "prune", "generate", "train", "eval", "bench", "run")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Good input files every case can use, and one broken copy of a tiny checkpoint per corruption."""
    root = tmp_path_factory.mktemp("inputs")
    good = save_tiny(root / "good")
    files = {"good": good}
    for kind in CORRUPTIONS:
        files[kind] = make_corrupt(good, root / kind, kind)
    (root / "corpus.txt").write_text("the quick brown fox jumps over the lazy dog\n" * 4)
    (root / "prompts.jsonl").write_text('{"id": "a", "prompt": "hi"}\n{"id": "b", "prompt": "yo"}\n')
    (root / "rows.jsonl").write_text(json.dumps({"id": "a", "prompt": "hi", "response": "hello"}) + "\n")
    files.update(corpus=root / "corpus.txt", prompts=root / "prompts.jsonl", rows=root / "rows.jsonl")
    return files


def stage_argv(stage: str, model: str, inputs: dict[str, Path], out: Path) -> list[str]:
    """The smallest sensible command line of ``stage`` on ``model``, writing to ``out``."""
    if stage == "info":
        return ["info", model]
    if stage == "calibrate":
        return ["calibrate", model, "--data", str(inputs["corpus"]), "--out", str(out), "--seq-len", "8",
                "--device", "cpu", "--no-progress"]
    if stage == "prune":
        return ["prune", model, "--strategy", "explicit", "--layers", "1", "--out", str(out)]
    if stage == "generate":
        return ["generate", model, "--prompts", str(inputs["prompts"]), "--out", str(out / "r.jsonl"),
                "--max-new-tokens", "2", "--device", "cpu", "--no-progress"]
    if stage == "train":
        return ["train", model, "--data", str(inputs["rows"]), "--out", str(out), "--max-steps", "1",
                "--device", "cpu", "--no-chat-template"]
    if stage == "eval":
        return ["eval", model, "--tasks", "arith", "--limit", "2", "--out", str(out), "--no-progress"]
    if stage == "bench":
        return ["bench", model, "--batch-sizes", "1", "--prompt-len", "4", "--new-tokens", "2", "--repeats",
                "1", "--warmup", "0", "--out", str(out), "--device", "cpu"]
    if stage == "run":
        config = out.with_name("study.yaml")
        config.write_text(json.dumps({"model": model, "device": "cpu", "dtype": "float32", "stages": ["calibrate"],
                                      "calibrate": {"data": str(inputs["corpus"]), "seq_len": 8,
                                                    "max_tokens": 32}}))
        return ["run", str(config), "--out", str(out)]
    raise ValueError(stage)


def snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in sorted(folder.rglob("*"))}


def run_refused(argv: list[str], work: Path, capsys) -> str:
    """Run ``argv``; assert exit 2, exactly one ``error:`` line, no traceback and ``work`` unchanged."""
    before = snapshot(work)
    code = main(argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2, f"exit {code}; stderr:\n{err}"
    assert len(errors) == 1, err
    assert "Traceback" not in err
    assert snapshot(work) == before, f"{argv[0]} left output behind: {sorted(set(snapshot(work)) - set(before))}"
    return errors[0]


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
@pytest.mark.parametrize("stage", STAGES)
def test_corrupt_checkpoint_in_every_stage(stage, kind, inputs, tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    bad = inputs[kind]
    argv = stage_argv(stage, str(bad), inputs, work / "out")
    line = run_refused(argv, work, capsys)
    named = bad / CORRUPTIONS[kind] if CORRUPTIONS[kind] else bad
    assert str(named) in line, line
