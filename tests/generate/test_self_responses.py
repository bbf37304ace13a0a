"""self_responses: rows, per-prompt seeds, and a killed run resumed into the same file as a clean one."""

from __future__ import annotations

import json

import pytest

from fastprune.errors import FastpruneError
from fastprune.generate.prompts import Prompt
from fastprune.generate.self_responses import SelfResponseConfig, meta_path, request_seed, run_self_responses

PROMPTS = [Prompt(str(i), f"question number {i}: what is {i} + {i}?") for i in range(5)]


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_rows_have_the_documented_fields(tiny, tmp_path):
    loaded = tiny("llama", layers=1)
    out = tmp_path / "r.jsonl"
    cfg = SelfResponseConfig(max_new_tokens=6, batch_size=2, system_prompt="sys")
    stats = run_self_responses(loaded, PROMPTS[:3], out, cfg, progress=False)
    rows = _rows(out)
    assert stats["written"] == 3 and sorted(r["id"] for r in rows) == ["0", "1", "2"]
    for row in rows:
        assert set(row) == {"id", "prompt", "response", "num_tokens", "finish_reason"}
        assert row["prompt"][0] == {"role": "system", "content": "sys"}
        assert row["prompt"][1]["content"] == PROMPTS[int(row["id"])].text
        assert 1 <= row["num_tokens"] <= 6 and row["finish_reason"] in ("eos", "length")
    assert json.loads(meta_path(out).read_text())["temperature"] == 0.9


def test_a_killed_run_resumes_to_the_same_rows_without_duplicates(tiny, tmp_path):
    loaded = tiny("qwen2", layers=1)
    cfg = SelfResponseConfig(max_new_tokens=8, batch_size=3, seed=5)
    clean = tmp_path / "clean.jsonl"
    run_self_responses(loaded, PROMPTS, clean, cfg, progress=False)
    reference = {r["id"]: r for r in _rows(clean)}

    # A run that died after two rows, in the middle of writing the third.
    killed = tmp_path / "killed.jsonl"
    lines = clean.read_text().splitlines(keepends=True)
    killed.write_text("".join(lines[:2]) + lines[2][:17])
    meta_path(killed).write_text(meta_path(clean).read_text())
    stats = run_self_responses(loaded, PROMPTS, killed, cfg, progress=False)
    assert stats == {**stats, "written": 3, "already_done": 2}
    rows = _rows(killed)
    assert len(rows) == 5 and {r["id"]: r for r in rows} == reference

    again = run_self_responses(loaded, PROMPTS, killed, cfg, progress=False)
    assert again["written"] == 0 and len(_rows(killed)) == 5


def test_resuming_with_different_settings_is_refused(tiny, tmp_path):
    loaded = tiny("llama", layers=1)
    out = tmp_path / "r.jsonl"
    run_self_responses(loaded, PROMPTS[:2], out, SelfResponseConfig(max_new_tokens=4), progress=False)
    with pytest.raises(FastpruneError, match="temperature"):
        run_self_responses(loaded, PROMPTS, out, SelfResponseConfig(max_new_tokens=4, temperature=0.5),
                           progress=False)


def test_request_seeds_depend_on_run_seed_and_id_only():
    assert request_seed(0, "7") == request_seed(0, "7")
    assert len({request_seed(0, "7"), request_seed(1, "7"), request_seed(0, "8")}) == 3
    assert 0 <= request_seed(123, "x") < 2**62
