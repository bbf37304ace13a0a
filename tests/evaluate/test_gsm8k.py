import json

import pytest

from fastprune.errors import FastpruneError
from fastprune.evaluate import EvaluateOptions
from fastprune.evaluate.gsm8k import (
    ZERO_SHOT_SUFFIX,
    GSM8KOptions,
    GSM8KTask,
    fewshot_solution,
    gold_answer,
    load_split,
)
from fastprune.evaluate.lm import Generation


def test_gold_answer_and_fewshot_solution():
    answer = "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs.\nShe makes 9 * 2 = $<<9*2=18>>18.\n#### 18"
    assert gold_answer(answer) == "18"
    assert gold_answer("x\n#### 1,250") == "1250"
    sol = fewshot_solution(answer)
    assert "<<" not in sol and sol.endswith("The answer is 18.") and "= $18." in sol
    with pytest.raises(ValueError):
        gold_answer("no final line")


def test_real_test_split_loads_with_numeric_golds(shared_data):
    rows = load_split(GSM8KOptions(), "test")
    assert len(rows) == 1319
    assert all(gold_answer(r["answer"]) is not None for r in rows)


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_missing_field_is_a_clear_error(tmp_path):
    bad = _write(tmp_path / "bad.jsonl", [{"question": "1+1?", "answer": "#### 2"}, {"question": "2+2?"}])
    with pytest.raises(FastpruneError, match=r"bad.jsonl:2: missing field\(s\) answer"):
        load_split(GSM8KOptions(file=bad), "test")
    (tmp_path / "broken.jsonl").write_text('{"question": 1\n')
    with pytest.raises(FastpruneError, match="not valid JSON"):
        load_split(GSM8KOptions(file=tmp_path / "broken.jsonl"), "test")


class ScriptedLM:
    """Returns canned generations; records the prompts it was given."""

    def __init__(self, outputs, finish="eos"):
        self.outputs, self.texts, self.chat, self.finish = outputs, [], [], finish

    def prompt_ids(self, text, chat=False):
        self.texts.append(text)
        self.chat.append(chat)
        return [len(self.texts) - 1]

    def generate(self, prompts, max_new_tokens, seed=0, stop_strings=()):
        self.stops = stop_strings
        n = len(self.outputs)
        return [Generation(self.outputs[i % n], [0] * 3, self.finish, 3) for i in range(len(prompts))]


def test_zero_shot_scoring(tmp_path):
    data = _write(tmp_path / "g.jsonl", [
        {"question": "A?", "answer": "...\n#### 18"},
        {"question": "B?", "answer": "...\n#### 1,000"},
        {"question": "C?", "answer": "...\n#### 5"},
        {"question": "D?", "answer": "...\n#### 7"},
    ])
    lm = ScriptedLM(["so \\boxed{18.00}", "The answer is $1,000.", "#### 6", "I think 3 then 7"])
    result = GSM8KTask(EvaluateOptions(gsm8k=GSM8KOptions(file=data))).run(lm, limit=None, seed=0)
    assert [s["correct"] for s in result.samples] == [True, True, False, True]
    assert [s["rule"] for s in result.samples] == ["boxed", "answer_is", "hashes", "last_number"]
    assert result.metrics["exact_match"] == 0.75 and result.metrics["boxed_rate"] == 0.25
    assert all(lm.chat) and lm.texts[0] == "A?" + ZERO_SHOT_SUFFIX
    assert GSM8KTask(EvaluateOptions(gsm8k=GSM8KOptions(file=data))).run(ScriptedLM(["x"]), limit=2, seed=0).n == 2
    # the right number inside an answer that never stopped is still wrong
    rambling = ScriptedLM(["\\boxed{18} and 18 and 18 and"], finish="length")
    r = GSM8KTask(EvaluateOptions(gsm8k=GSM8KOptions(file=data))).run(rambling, limit=1, seed=0)
    assert r.samples[0]["extracted"] == "18" and not r.samples[0]["correct"]
    assert r.metrics["hit_length_limit"] == 1.0


def test_fewshot_prompt_uses_train_examples(shared_data):
    lm = ScriptedLM(["The answer is 18."])
    result = GSM8KTask(EvaluateOptions(), shots=2).run(lm, limit=1, seed=0)
    prompt = lm.texts[0]
    assert prompt.count("Question:") == 3 and prompt.endswith("\nAnswer:")
    assert "<<" not in prompt and prompt.count("The answer is") == 2
    assert not any(lm.chat) and "Question:" in "".join(lm.stops)
    assert result.samples[0]["correct"]  # Janet's ducks: 18


def test_tiny_model_end_to_end(tiny_lm, shared_data):
    result = GSM8KTask(EvaluateOptions(max_new_tokens=6)).run(tiny_lm, limit=2, seed=0)
    assert result.n == 2 and result.metrics["exact_match"] in (0.0, 0.5, 1.0)
    assert all(s["num_tokens"] <= 6 for s in result.samples)
    assert result.metrics["hit_length_limit"] == pytest.approx(
        sum(s["finish_reason"] == "length" for s in result.samples) / 2
    )
