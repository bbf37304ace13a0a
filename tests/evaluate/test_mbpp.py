import json
from pathlib import Path

import pytest

from fastprune.errors import FastpruneError
from fastprune.evaluate import EvaluateOptions
from fastprune.evaluate.code_exec import SandboxOptions
from fastprune.evaluate.lm import Generation
from fastprune.evaluate.mbpp import MBPPOptions, MBPPTask, build_prompt, extract_code, load_records, program
from fastprune.evaluate.sandbox import run_programs

FIXTURE = Path(__file__).parent / "fixtures" / "mbpp.jsonl"


def test_reference_code_passes_and_prompt_shows_first_test():
    records = load_records(MBPPOptions(file=FIXTURE))
    results = run_programs([program(r, r["code"]) for r in records], timeout=5)
    assert all(r.passed for r in results)
    prompt = build_prompt(records[1])
    assert records[1]["test_list"][0] in prompt and records[1]["test_list"][1] not in prompt


@pytest.mark.parametrize(
    ("answer", "code"),
    [("Here:\n```python\ndef f():\n    return 1\n```\nDone.", "def f():\n    return 1\n"),
     ("```\nx = 1\n```", "x = 1\n"), ("```python\ny = 2\n", "y = 2\n"), ("def g(): pass", "def g(): pass")],
)
def test_extract_code(answer, code):
    assert extract_code(answer) == code


def test_bad_records(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"prompt": "x", "test_list": []}) + "\n")
    with pytest.raises(FastpruneError, match="test_list"):
        MBPPTask(EvaluateOptions(mbpp=MBPPOptions(file=path)))
    path.write_text(json.dumps({"prompt": "x"}) + "\n")
    with pytest.raises(FastpruneError, match=r"missing field\(s\) test_list"):
        MBPPTask(EvaluateOptions(mbpp=MBPPOptions(file=path)))


class CodeLM:
    def __init__(self, records):
        self.records, self.texts = records, []

    def prompt_ids(self, text, chat=False):
        self.texts.append(text)
        return [len(self.texts) - 1]

    def generate(self, prompts, max_new_tokens, seed=0, stop_strings=()):
        out = []
        for (i,) in prompts:
            code = self.records[i]["code"] if i == 0 else "def is_not_prime(n:\n    return True"
            out.append(Generation(f"Sure.\n```python\n{code}\n```", [0], "eos", 9))
        return out


def test_task_scores_and_categorises():
    task = MBPPTask(EvaluateOptions(mbpp=MBPPOptions(file=FIXTURE), sandbox=SandboxOptions(timeout=5)))
    r = task.run(CodeLM(task.records), limit=2, seed=0)
    assert r.n == 2 and r.metrics["pass@1"] == 0.5 and r.metrics["fail/unbalanced_brackets"] == 0.5
    assert r.samples[0]["correct"] and r.samples[1]["category"] == "unbalanced_brackets"


def test_tiny_model_end_to_end(tiny_lm):
    options = EvaluateOptions(max_new_tokens=8, mbpp=MBPPOptions(file=FIXTURE), sandbox=SandboxOptions(timeout=5))
    r = MBPPTask(options).run(tiny_lm, None, 0)
    assert r.n == 3 and r.metrics["pass@1"] == 0.0
