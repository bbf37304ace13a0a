"""jsonl_out: torn tails are dropped on recovery, rows are whole lines, duplicates are refused."""

from __future__ import annotations

import json

import pytest

from fastprune.errors import FastpruneError
from fastprune.generate.jsonl_out import JsonlAppender, recover


def test_rows_are_appended_as_whole_lines(tmp_path):
    out = tmp_path / "rows.jsonl"
    with JsonlAppender(out) as sink:
        sink.write({"id": "a", "response": "x\ny"})
        sink.write({"id": "b", "response": "é"})
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b"]
    assert set(recover(out)) == {"a", "b"}
    assert set(recover(tmp_path / "missing.jsonl")) == set()


@pytest.mark.parametrize("tail", [b'{"id": "c", "resp', b'{"id": "c", "resp\n'])
def test_a_torn_last_line_is_truncated_away(tmp_path, tail):
    out = tmp_path / "rows.jsonl"
    good = b'{"id": "a"}\n{"id": "b"}\n'
    out.write_bytes(good + tail)
    assert set(recover(out)) == {"a", "b"}
    assert out.read_bytes() == good
    with JsonlAppender(out) as sink:
        sink.write({"id": "c"})
    assert set(recover(out)) == {"a", "b", "c"}


def test_corruption_in_the_middle_and_duplicates_are_errors(tmp_path):
    out = tmp_path / "rows.jsonl"
    out.write_bytes(b'{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(FastpruneError, match="line 2 is not valid JSON"):
        recover(out)
    out.write_bytes(b'{"id": "a"}\n{"id": "a"}\n')
    with pytest.raises(FastpruneError, match="appears twice"):
        recover(out)
    out.write_bytes(b'{"x": 1}\n')
    with pytest.raises(FastpruneError, match="has no 'id'"):
        recover(out)
