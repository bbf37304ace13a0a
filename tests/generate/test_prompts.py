"""prompts: named prompt sets take the right field, files get it detected, text and ids pass unchanged."""

from __future__ import annotations

import json

import pytest

from fastprune.errors import FastpruneError
from fastprune.generate.prompts import load_prompts, prompt_hash


def test_gsm8k_train_prompts_are_the_questions(shared_data):
    prompts, source = load_prompts("gsm8k-train", limit=3)
    with open(f"{shared_data}/gsm8k/train.jsonl") as f:
        first = json.loads(f.readline())
    assert [p.id for p in prompts] == [f"sha256:{prompt_hash(p.text)[:16]}" for p in prompts]
    assert prompts[0].text == first["question"]
    assert "####" not in prompts[0].text
    assert source["field"] == "question" and source["prompt_field"] == "question"


def test_code_alpaca_joins_instruction_and_nonempty_input(shared_data):
    with open(f"{shared_data}/code_alpaca/code_alpaca_2k.json") as f:
        records = json.load(f)
    prompts, source = load_prompts("code-alpaca", limit=40)
    for rec, prompt in zip(records, prompts, strict=False):
        assert prompt.text == (f"{rec['instruction']}\n\n{rec['input']}" if rec["input"] else rec["instruction"])
    assert any(not r["input"] for r in records[:40]) and any(r["input"] for r in records[:40])
    assert source["prompt_field"] == "instruction+input"


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_local_jsonl_with_field_and_clear_errors(tmp_path):
    path = write(tmp_path / "p.jsonl", [{"q": f"question {i}", "n": i} for i in range(4)])
    prompts, source = load_prompts(path, field="q", limit=2)
    assert [p.text for p in prompts] == ["question 0", "question 1"]
    assert source["prompt_field"] == "q"
    with pytest.raises(FastpruneError, match=r"p\.jsonl:1: no prompt field found"):
        load_prompts(path)
    with pytest.raises(FastpruneError, match="not found"):
        load_prompts(str(tmp_path / "nope.jsonl"), field="q")
    with pytest.raises(FastpruneError, match="--limit"):
        load_prompts(path, field="q", limit=0)


@pytest.mark.parametrize(("row", "field", "text"), [
    ({"id": "p0", "prompt": "import numpy as np\n"}, "prompt", "import numpy as np\n"),
    ({"id": "p0", "question": " What is 2 + 2? "}, "question", " What is 2 + 2? "),
    ({"id": "p0", "instruction": "Sort.", "input": "[2, 1]"}, "instruction+input", "Sort.\n\n[2, 1]"),
    ({"id": "p0", "problem": "Find x."}, "problem", "Find x."),
    ({"id": "p0", "text": "once"}, "text", "once"),
    ({"id": "p0", "messages": [{"role": "user", "content": "hi\n"}, {"role": "assistant", "content": "yo"}]},
     "messages", [{"role": "user", "content": "hi\n"}]),
])
def test_the_usual_prompt_file_is_read_with_its_field_detected(tmp_path, row, field, text):
    prompts, source = load_prompts(write(tmp_path / "p.jsonl", [row, {**row, "id": "p1"}]))
    assert source["prompt_field"] == field
    assert [(p.id, p.text) for p in prompts] == [("p0", text), ("p1", text)]


def test_ids_are_kept_as_given_or_hashed(tmp_path):
    prompts, _ = load_prompts(write(tmp_path / "a.jsonl", [{"id": 7, "prompt": "a"}, {"id": "x", "prompt": "b"}]))
    assert [p.id for p in prompts] == [7, "x"]
    prompts, _ = load_prompts(write(tmp_path / "b.jsonl", [{"prompt": "a"}, {"prompt": "b"}]))
    again, _ = load_prompts(write(tmp_path / "c.jsonl", [{"prompt": "b"}, {"prompt": "a"}]))
    assert {p.id: p.text for p in prompts} == {p.id: p.text for p in again}  # stable under re-ordering
    assert prompts[0].id == f"sha256:{prompt_hash('a')[:16]}"


@pytest.mark.parametrize(("rows", "message"), [
    ([{"id": "a", "prompt": "x"}, {"id": "a", "prompt": "y"}],
     r"p\.jsonl:2: duplicate id 'a', first seen at .*p\.jsonl:1"),
    ([{"prompt": "x"}, {"prompt": "x"}], r"p\.jsonl:2: duplicate prompt .*give the rows distinct ids"),
    ([{"id": "a", "prompt": "x"}, {"id": "b", "prompt": " \n\t"}],
     r"p\.jsonl:2: the prompt is empty or only whitespace"),
    ([{"id": "a", "prompt": "x", "question": "y"}], r"p\.jsonl:1: several prompt fields .*\(prompt, question\)"),
    ([{"id": "a", "prompt": "x"}, {"id": "b", "question": "y"}], r"p\.jsonl:2: no field 'prompt'"),
    ([{"id": [1], "prompt": "x"}], r"p\.jsonl:1: 'id' is list"),
])
def test_bad_prompt_files_fail_naming_the_line(tmp_path, rows, message):
    with pytest.raises(FastpruneError, match=message):
        load_prompts(write(tmp_path / "p.jsonl", rows))


def test_malformed_line_is_reported_with_its_line_number(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "prompt": "x"}\n\n{"id": "b", "prompt": "y"\n')
    with pytest.raises(FastpruneError, match=r"p\.jsonl: line 3 is not valid JSON"):
        load_prompts(str(path))


def test_text_file_prompts_are_lines(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("first prompt\n\nsecond prompt \n")
    prompts, source = load_prompts(str(path))
    assert [p.text for p in prompts] == ["first prompt", "second prompt "] and source["prompt_field"] == "line"


def test_hf_dataset_names_fail_clearly_offline(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FastpruneError, match="cannot open dataset"):
        load_prompts("someone/no-such-prompts", field="prompt")
