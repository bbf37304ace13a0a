"""``fastprune.evaluate.run(options)``: the stage in-process, as ``fastprune run`` calls it."""

import json

import pytest

from fastprune.errors import FastpruneError
from fastprune.evaluate import EvaluateOptions, run
from fastprune.evaluate.parens import ParensOptions


def test_run_in_process_writes_scores_with_task_metadata(tmp_path):
    options = EvaluateOptions(models=["tiny:llama:1"], tasks=["parens", "arith_1dc"], limit=2, max_new_tokens=2,
                              out=tmp_path / "e", progress=False, parens=ParensOptions(depths=(1, 2)))
    scores = run(options)
    written = json.loads((tmp_path / "e" / "scores.json").read_text())
    assert written == json.loads(json.dumps(scores))
    entry = written["tiny:llama:1"]["parens"]
    assert entry["n"] == 2 and entry["meta"] == {"kind": "generative", "primary": "exact_match",
                                                 "higher_is_better": True}
    assert written["tiny:llama:1"]["arith_1dc"]["meta"]["kind"] == "next-token-probe"
    run_json = json.loads((tmp_path / "e" / "run.json").read_text())
    assert run_json["options"]["parens_depths"] == "[1, 2]" and "models" not in run_json["options"]


def test_run_needs_an_output_folder_and_known_tasks(tmp_path):
    with pytest.raises(FastpruneError, match="--out is required"):
        run(EvaluateOptions(models=["tiny:llama:1"], tasks=["parens"]))
    with pytest.raises(FastpruneError, match="unknown task 'nope'"):
        run(EvaluateOptions(models=["tiny:llama:1"], tasks=["nope"], out=tmp_path / "o"))
    assert not (tmp_path / "o").exists()
