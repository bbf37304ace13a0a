"""Bad input through every sub-command: one ``error:`` line naming the problem, exit 2, nothing written.

Each case runs the real CLI in-process on tiny models (most fail before any model loads, so the whole
table takes seconds). ``work`` is the only place a command may write; it must be unchanged afterwards.
"""

from __future__ import annotations

import json
import shlex
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
    for name, text in BAD_FILES.items():
        (root / name).write_text(text)
    files["nan"] = _nan_checkpoint(good, root / "nan")
    (root / "late_prompts.yaml").write_text(json.dumps({
        "model": str(good), "device": "cpu", "dtype": "float32", "stages": ["calibrate", "generate"],
        "calibrate": {"data": str(root / "corpus.txt"), "seq_len": 8, "max_tokens": 32},
        "generate": {"prompts": str(root / "nope.jsonl"), "limit": 2}}))
    files["root"] = root
    return files


BAD_FILES = {
    "empty.txt": "",
    "broken.jsonl": '{"id": "a", "prompt": "x"}\n\n{"id": "b", "prompt": \n',
    "noprompt.jsonl": '{"id": "a", "answer": "4"}\n',
    "conflict.jsonl": '{"id": "a", "prompt": "x", "question": "y"}\n',
    "blank_prompt.jsonl": '{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": " \\n "}\n',
    "dup.jsonl": '{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n',
    "broken_rows.jsonl": '{"prompt": "x", "response": "y"}\n{"prompt": \n',
    "importance_bad.json": "{",
    "bad.yaml": "model: [\n",
    "unknown_key.yaml": "model: tiny:llama:2\nno_such_key: 1\n",
}


def _nan_checkpoint(good: Path, target: Path) -> Path:
    """A checkpoint whose files are fine but whose first MLP outputs NaN: what a diverged run leaves."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(good, target)
    tensors = load_file(target / "model.safetensors")
    tensors[next(k for k in tensors if "layers.0.mlp.down_proj" in k)].fill_(float("nan"))
    save_file(tensors, target / "model.safetensors", metadata={"format": "pt"})
    return target


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


# (sub-command line, what the one error line must say); {in} is the inputs folder, {good}/{nan} tiny
# checkpoints, {work} the only folder a command may write to (it must be unchanged afterwards).
BAD_INPUTS = {
    "missing model": ("info {work}/no/such/model", "unknown model"),
    "bad tiny spec": ("info tiny:llama:x", "tiny:FAMILY[:LAYERS] with LAYERS >= 1"),
    "hub id offline": ("info someone/no-such-model", "cannot load model 'someone/no-such-model' from the hub"),
    "empty corpus": ("calibrate {good} --data {in}/empty.txt --out {work}/o", "is empty (no documents)"),
    "missing data file": ("calibrate {good} --data {in}/nope.txt --out {work}/o", "data file not found"),
    "malformed JSONL corpus": ("calibrate {good} --data {in}/broken.jsonl --out {work}/o --seq-len 8 --no-progress",
                               "broken.jsonl: line 3 is not valid JSON"),
    "seq-len 0": ("calibrate {good} --data {in}/corpus.txt --out {work}/o --seq-len 0", "--seq-len must be"),
    "NaN activations": ("calibrate {nan} --data {in}/corpus.txt --out {work}/o --seq-len 8 --device cpu "
                        "--no-progress", "non-finite (NaN/inf) activations at the output of layer 0"),
    "bad dtype": ("calibrate {good} --data {in}/corpus.txt --out {work}/o --dtype float8", "unknown dtype"),
    "layers out of range": ("prune {good} --strategy explicit --layers 5 --out {work}/o", "out of range"),
    "prune every layer": ("prune {good} --strategy explicit --layers 0,1 --out {work}/o", "cannot remove all"),
    "drop every layer": ("prune {good} --strategy reverse --drop 2 --out {work}/o", "cannot drop 2 of 2"),
    "ratio out of range": ("prune {good} --strategy reverse --ratio 1.5 --out {work}/o", "--ratio must be"),
    "corrupt importance": ("prune {good} --strategy block --drop 1 --importance {in}/importance_bad.json "
                           "--out {work}/o", "importance_bad.json is not valid JSON"),
    "prune into existing dir": ("prune {good} --strategy reverse --drop 1 --out {work}/exists", "--overwrite"),
    "missing prompts file": ("generate {good} --prompts {in}/nope.jsonl --out {work}/o/r.jsonl", "not found"),
    "malformed prompts JSONL": ("generate {good} --prompts {in}/broken.jsonl --out {work}/o/r.jsonl",
                                "broken.jsonl: line 3 is not valid JSON"),
    "no prompt field": ("generate {good} --prompts {in}/noprompt.jsonl --out {work}/o/r.jsonl",
                        "noprompt.jsonl:1: no prompt field found"),
    "conflicting prompt fields": ("generate {good} --prompts {in}/conflict.jsonl --out {work}/o/r.jsonl",
                                  "several prompt fields with different values (prompt, question)"),
    "whitespace-only prompt": ("generate {good} --prompts {in}/blank_prompt.jsonl --out {work}/o/r.jsonl",
                               "blank_prompt.jsonl:2: the prompt is empty or only whitespace"),
    "duplicate ids": ("generate {good} --prompts {in}/dup.jsonl --out {work}/o/r.jsonl", "duplicate id 'a'"),
    "negative temperature": ("generate {good} --prompts {in}/prompts.jsonl --out {work}/o/r.jsonl --temperature -1",
                             "temperature must be >= 0"),
    "generate out is a dir": ("generate {good} --prompts {in}/prompts.jsonl --out {work}/exists", "is a directory"),
    "NaN logits": ("generate {nan} --prompts {in}/prompts.jsonl --out {work}/o/r.jsonl --max-new-tokens 2 "
                   "--device cpu --no-progress", "non-finite logits"),
    "missing train data": ("train {good} --data {in}/nope.jsonl --out {work}/o --device cpu", "does not exist"),
    "malformed train JSONL": ("train {good} --data {in}/broken_rows.jsonl --out {work}/o --device cpu",
                              "broken_rows.jsonl:2 is not valid JSON"),
    "train on a prompts file": ("train {good} --data {in}/prompts.jsonl --out {work}/o --device cpu",
                                "row is missing response"),
    "negative lr": ("train {good} --data {in}/rows.jsonl --out {work}/o --lr -1 --device cpu", "--lr must be"),
    "train into existing dir": ("train {good} --data {in}/rows.jsonl --out {work}/exists --device cpu",
                                "--overwrite"),
    "NaN training loss": ("train {nan} --data {in}/rows.jsonl --out {work}/o --max-steps 1 --device cpu "
                          "--no-chat-template", "training loss is nan at step 1"),
    "unknown task": ("eval {good} --tasks nosuch --out {work}/o", "unknown task 'nosuch'"),
    "missing ppl file": ("eval {good} --tasks ppl --ppl-file {in}/nope.txt --out {work}/o", "does not exist"),
    "eval limit 0": ("eval {good} --tasks arith --limit 0 --out {work}/o", "--limit must be >= 1"),
    "eval NaN model": ("eval {nan} --tasks arith --limit 2 --out {work}/o --no-progress", "non-finite logits"),
    "bench batch 0": ("bench {good} --batch-sizes 0 --out {work}/o", "batch sizes >= 1"),
    "bench drop too many": ("bench {good} --drop-layers 5 --batch-sizes 1 --prompt-len 4 --new-tokens 2 "
                            "--repeats 1 --warmup 0 --out {work}/o --device cpu", "has only 2 layers"),
    "run missing config": ("run {in}/nope.yaml --out {work}/o", "config file not found"),
    "run invalid YAML": ("run {in}/bad.yaml --out {work}/o", "is not valid YAML"),
    "eval out is a file": ("eval {good} --tasks arith --limit 2 --out {work}/afile --no-progress",
                           "is an existing file"),
    "bench out is a file": ("bench {good} --batch-sizes 1 --prompt-len 4 --new-tokens 2 --repeats 1 --warmup 0 "
                            "--out {work}/afile --device cpu", "is an existing file"),
    "calibrate out is a file": ("calibrate {good} --data {in}/corpus.txt --out {work}/afile --seq-len 8 "
                                "--no-progress", "is an existing file"),
    "run out is a file": ("run {in}/late_prompts.yaml --out {work}/afile", "is an existing file"),
    "run unknown key": ("run {in}/unknown_key.yaml --out {work}/o", "unknown config key 'no_such_key'"),
    "run missing prompts (checked before calibrating)": ("run {in}/late_prompts.yaml --out {work}/o",
                                                         "data file not found"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_error_line_and_writes_nothing(case, inputs, tmp_path, capsys):
    work = tmp_path / "work"
    (work / "exists").mkdir(parents=True)
    (work / "exists" / "keep.txt").write_text("user data")
    (work / "afile").write_text("user data")
    command, expected = BAD_INPUTS[case]
    argv = shlex.split(command.format(**{"in": inputs["root"], "good": inputs["good"], "nan": inputs["nan"],
                                         "work": work}))
    line = run_refused(argv, work, capsys)
    assert expected in line, line


def test_killed_generate_resumes_without_torn_or_duplicate_rows(inputs, tmp_path, capsys):
    """A kill mid-write leaves a torn last line; the same command drops it and answers the rest once."""
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"say {i}"}) + "\n" for i in range(3)))
    out = tmp_path / "o" / "r.jsonl"
    argv = ["generate", str(inputs["good"]), "--prompts", str(prompts), "--out", str(out), "--max-new-tokens",
            "2", "--device", "cpu", "--no-progress"]
    assert main([*argv, "--limit", "1"]) == 0
    with out.open("a") as f:
        f.write('{"id": "p1", "prompt": [{"role": "us')  # the kill
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "1 rows already written, 2 prompts to answer" in err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == ["p0", "p1", "p2"]
