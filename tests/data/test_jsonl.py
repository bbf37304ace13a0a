"""data.jsonl: the one JSONL line reader; errors name the file and the line."""

import gzip
import json

import pytest

from fastprune.data.jsonl import complete_records, numbered_lines, read_jsonl
from fastprune.errors import FastpruneError


def test_records_keep_their_line_numbers_past_blank_lines_and_a_bom(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n  \n{"a": "\xc3\xa9"}\r\n[3]')
    assert list(read_jsonl(path)) == [(1, {"a": 1}), (4, {"a": "é"}), (5, [3])]
    gz = tmp_path / "a.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert list(read_jsonl(gz)) == list(read_jsonl(path))


def test_byte_offsets_point_at_each_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n{"b": 2}\n')
    with path.open("rb") as f:
        rows = list(numbered_lines(f))
    assert [(n, o) for n, o, _ in rows] == [(1, 3), (2, 12)]
    with path.open("rb") as f:
        f.seek(rows[1][1])
        assert json.loads(f.readline()) == {"b": 2}


def test_errors_name_file_and_line_in_the_callers_words(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": \n')
    with pytest.raises(FastpruneError, match=r"bad\.jsonl: line 2 is not valid JSON \(Expecting value at column 7\)"):
        list(read_jsonl(path))
    with pytest.raises(FastpruneError, match=r"bad\.jsonl:2 is not valid JSON \(Expecting value\); fix it$"):
        list(read_jsonl(path, "{path}:{line} is not valid JSON ({msg}); fix it"))
    path.write_bytes(b'{"a": 1}\n{"a": "\xff"}\n')
    with pytest.raises(FastpruneError, match=r"bad\.jsonl: line 2 is not UTF-8 text"):
        list(read_jsonl(path))
    assert list(read_jsonl(path, errors="replace"))[1] == (2, {"a": "\ufffd"})


@pytest.mark.parametrize(("tail", "kept"), [(b"", 2), (b'{"id": 3', 2), (b'{"id": 3\n', 2), (b'{"id": 3}\n', 3)])
def test_complete_records_drop_a_torn_last_line(tmp_path, tail, kept):
    path = tmp_path / "out.jsonl"
    head = b'{"id": 1}\n{"id": 2}\n'
    path.write_bytes(head + tail)
    records, length = complete_records(path)
    assert [r for _, r in records] == [{"id": i} for i in range(1, kept + 1)]
    assert length == (len(head) if kept == 2 else len(head + tail))


def test_a_bad_line_before_the_last_is_corruption(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"id": 1}\nnot json\n{"id": 3}\n')
    with pytest.raises(FastpruneError, match=r"out\.jsonl: line 2 is not valid JSON"):
        complete_records(path)
