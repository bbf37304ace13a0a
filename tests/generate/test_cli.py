"""``fastprune generate`` end to end on a tiny model: rows, resume, raw prompts, errors."""

from __future__ import annotations

import json

from fastprune.cli import main


def _run(capsys, *argv):
    code = main(["generate", *argv, "--no-progress"])
    return code, capsys.readouterr().err


def test_generate_writes_and_resumes(tiny, tmp_path, capsys):
    src = tmp_path / "p.jsonl"
    src.write_text("\n".join(json.dumps({"q": f"say {w}"}) for w in ["a", "bb", "ccc", "dddd", "e"]) + "\n")
    out = tmp_path / "out.jsonl"
    args = ["tiny:llama:2", "--prompts", str(src), "--field", "q", "--out", str(out), "--max-new-tokens", "5",
            "--batch-size", "2"]
    code, err = _run(capsys, *args, "--limit", "3")
    assert code == 0 and "wrote 3 rows" in err and "fast runner" in err
    assert "native decode kernels" in err or "torch decode kernels" in err
    code, err = _run(capsys, *args, "--backend", "torch")  # kernels only change speed: resuming is allowed
    assert code == 0 and "3 rows already written, 2 prompts to answer" in err and "torch decode kernels" in err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == ["0", "1", "2", "3", "4"]
    code, err = _run(capsys, *args)
    assert code == 0 and "nothing to do" in err


def test_raw_prompts_and_greedy(tiny, tmp_path, capsys, shared_data):
    out = tmp_path / "raw.jsonl"
    code, _ = _run(capsys, "tiny:qwen3:1", "--prompts", "gsm8k-train", "--out", str(out), "--limit", "2",
                   "--no-chat-template", "--temperature", "0", "--max-new-tokens", "3")
    assert code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(isinstance(r["prompt"], str) and r["prompt"].startswith(("Natalia", "Weng")) for r in rows)


def test_bad_arguments_give_one_error_line(tmp_path, capsys):
    out = tmp_path / "x.jsonl"
    code, err = _run(capsys, "tiny:llama:1", "--prompts", str(tmp_path / "missing.jsonl"), "--out", str(out))
    assert code == 2 and err.strip().startswith("error:") and "not found" in err
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"question": "What is 2 + 2?"}\n')
    code, err = _run(capsys, "tiny:llama:1", "--prompts", str(prompts), "--field", "question", "--out", str(out),
                     "--top-p", "0")
    assert code == 2 and "top_p" in err
