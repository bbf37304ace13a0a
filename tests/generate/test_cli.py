"""``fastprune generate`` end to end on a tiny model: rows, resume, raw prompts, errors."""

from __future__ import annotations

import json

from fastprune.cli import main


def _run(capsys, *argv):
    code = main(["generate", *argv, "--no-progress"])
    return code, capsys.readouterr().err


def test_generate_writes_and_resumes(tiny, tmp_path, capsys):
    src = tmp_path / "p.jsonl"
    src.write_text("\n".join(json.dumps({"id": f"p{i}", "q": f"say {w}"})
                             for i, w in enumerate(["a", "bb", "ccc", "dddd", "e"])) + "\n")
    out = tmp_path / "out.jsonl"
    args = ["tiny:llama:2", "--prompts", str(src), "--field", "q", "--out", str(out), "--max-new-tokens", "5",
            "--batch-size", "2"]
    code, err = _run(capsys, *args, "--limit", "3")
    assert code == 0 and "wrote 3 rows" in err and "fast runner" in err
    assert "native decode kernels" in err or "torch decode kernels" in err
    code, err = _run(capsys, *args, "--backend", "torch")  # kernels only change speed: resuming is allowed
    assert code == 0 and "3 rows already written, 2 prompts to answer" in err and "torch decode kernels" in err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == ["p0", "p1", "p2", "p3", "p4"]
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


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_prompt_field_is_detected_and_reported(tmp_path, capsys):
    src = tmp_path / "p.jsonl"
    src.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"say {i}"}) + "\n" for i in range(2)))
    out = tmp_path / "out.jsonl"
    code, err = _run(capsys, "tiny:llama:1", "--prompts", str(src), "--out", str(out), "--max-new-tokens", "2")
    assert code == 0, err
    assert f"2 prompts from 'prompt' of {src}" in err
    assert [(r["id"], r["prompt"]) for r in _rows(out)] == [
        ("p0", [{"role": "user", "content": "say 0"}]), ("p1", [{"role": "user", "content": "say 1"}])]


def test_resume_checks_rows_against_the_source(tmp_path, capsys):
    src = tmp_path / "p.jsonl"
    rows = [{"id": f"p{i}", "prompt": f"say {i}"} for i in range(4)]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    args = ["tiny:llama:1", "--prompts", str(src), "--out", str(out), "--max-new-tokens", "2"]
    assert _run(capsys, *args, "--limit", "2")[0] == 0
    written = out.read_bytes()
    # re-ordered source: the rows still match by id, so the resume answers exactly the other two
    src.write_text("".join(json.dumps(r) + "\n" for r in reversed(rows)))
    code, err = _run(capsys, *args)
    assert code == 0 and "2 rows already written, 2 prompts to answer" in err
    assert sorted(r["id"] for r in _rows(out)) == ["p0", "p1", "p2", "p3"]
    # an edited prompt under a written id is refused, and the output is left as it was
    before = out.read_bytes()
    assert before.startswith(written)
    src.write_text("".join(json.dumps({**r, "prompt": r["prompt"] + "!"} if r["id"] == "p1" else r) + "\n"
                           for r in rows))
    code, err = _run(capsys, *args)
    assert code == 2 and "row id 'p1' answers a different prompt" in err and out.read_bytes() == before
    # a written id that the source no longer has is refused too
    src.write_text("".join(json.dumps(r) + "\n" for r in rows[1:]))
    code, err = _run(capsys, *args)
    assert code == 2 and "row id 'p0' is not among the 3 prompts" in err and out.read_bytes() == before


def test_prompt_is_fed_exactly_greedy_matches_hf_generate(tiny, tmp_path, capsys):
    """A code prompt ending in a newline is fed with it: greedy output equals HF generate on the same text."""
    import torch

    text = "def add(a, b):\n"
    src = tmp_path / "p.jsonl"
    src.write_text(json.dumps({"id": "he/0", "prompt": text}) + "\n")
    out = tmp_path / "out.jsonl"
    code, err = _run(capsys, "tiny:qwen3:2", "--prompts", str(src), "--out", str(out), "--no-chat-template",
                     "--temperature", "0", "--max-new-tokens", "8", "--backend", "torch")
    assert code == 0, err
    (row,) = _rows(out)
    assert row["id"] == "he/0" and row["prompt"] == text
    loaded = tiny("qwen3", layers=2)

    def hf_greedy(prompt: str) -> str:
        ids = loaded.tokenizer(prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            ref = loaded.model.generate(ids, max_new_tokens=8, do_sample=False, eos_token_id=None, pad_token_id=0)
        return loaded.tokenizer.decode(ref[0, ids.shape[1]:], skip_special_tokens=True)

    assert row["response"] == hf_greedy(text)
    assert hf_greedy(text.strip()) != hf_greedy(text)  # so a stripped prompt could not have passed
