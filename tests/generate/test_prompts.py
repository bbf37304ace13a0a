"""prompts: named prompt sets take the right field, files need one, ids are source indices."""

from __future__ import annotations

import json

import pytest

from fastprune.errors import FastpruneError
from fastprune.generate.prompts import load_prompts


def test_gsm8k_train_prompts_are_the_questions(shared_data):
    prompts, source = load_prompts("gsm8k-train", limit=3)
    with open(f"{shared_data}/gsm8k/train.jsonl") as f:
        first = json.loads(f.readline())
    assert [p.id for p in prompts] == ["0", "1", "2"]
    assert prompts[0].text == first["question"].strip()
    assert "####" not in prompts[0].text
    assert source["field"] == "question"


def test_code_alpaca_joins_instruction_and_nonempty_input(shared_data):
    with open(f"{shared_data}/code_alpaca/code_alpaca_2k.json") as f:
        records = json.load(f)
    prompts, _ = load_prompts("code-alpaca", limit=40)
    for rec, prompt in zip(records, prompts, strict=False):
        if rec["input"].strip():
            assert prompt.text == f"{rec['instruction']}\n\n{rec['input']}".strip()
        else:
            assert prompt.text == rec["instruction"].strip()
    assert any(not r["input"].strip() for r in records[:40]) and any(r["input"].strip() for r in records[:40])


def test_local_jsonl_with_field_and_clear_errors(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(json.dumps({"q": f"question {i}", "n": i}) for i in range(4)) + "\n")
    prompts, _ = load_prompts(str(path), field="q", limit=2)
    assert [(p.id, p.text) for p in prompts] == [("0", "question 0"), ("1", "question 1")]
    with pytest.raises(FastpruneError, match="--field"):
        load_prompts(str(path))
    with pytest.raises(FastpruneError, match="not found"):
        load_prompts(str(tmp_path / "nope.jsonl"), field="q")
    with pytest.raises(FastpruneError, match="--limit"):
        load_prompts(str(path), field="q", limit=0)


def test_hf_dataset_names_fail_clearly_offline(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FastpruneError, match="cannot open dataset"):
        load_prompts("someone/no-such-prompts", field="prompt")
