import json

import pytest

from fastprune.data import open_source
from fastprune.errors import FastpruneError


@pytest.fixture
def jsonl(tmp_path):
    path = tmp_path / "d.jsonl"
    rows = [{"q": f"question {i}", "a": f"answer {i}", "n": i} for i in range(20)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    return path


def test_text_lines_skip_blank_lines_and_resume(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("one\n\n  \ntwo\nthree\n")
    src = open_source(str(path))
    assert list(src.documents()) == ["one", "two", "three"]
    assert list(src.documents(1)) == ["two", "three"]
    whole = open_source(str(path), text_mode="whole")
    assert list(whole.documents()) == ["one\n\n  \ntwo\nthree\n"]


def test_jsonl_field_and_template(jsonl):
    assert next(open_source(str(jsonl), field="q").documents()) == "question 0"
    docs = list(open_source(str(jsonl), template="{q}\n{a} ({n})").documents(18))
    assert docs == ["question 18\nanswer 18 (18)", "question 19\nanswer 19 (19)"]


def test_missing_field_names_the_fields(jsonl):
    with pytest.raises(FastpruneError, match="no field 'text2'.*q, a, n"):
        open_source(str(jsonl), field="text2")
    with pytest.raises(FastpruneError, match="--template uses field 'answer'"):
        open_source(str(jsonl), template="{q} {answer}")
    with pytest.raises(FastpruneError, match=r"d\.jsonl:1: no prompt field found .*the record has: q, a, n\); "
                                             "name it with --field"):
        open_source(str(jsonl))


def test_field_on_plain_text_is_an_error(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("hello\n")
    with pytest.raises(FastpruneError, match="plain text"):
        open_source(str(path), field="text")


def test_json_array_and_wrapped_list(tmp_path):
    a = tmp_path / "a.json"
    a.write_text(json.dumps([{"text": "x"}, {"text": "y"}]))
    assert list(open_source(str(a)).documents()) == ["x", "y"]
    b = tmp_path / "b.json"
    b.write_text(json.dumps({"data": [{"text": "z"}]}))
    assert list(open_source(str(b)).documents()) == ["z"]


def test_shuffle_is_a_seeded_permutation(jsonl):
    plain = list(open_source(str(jsonl), field="q").documents())
    s1 = list(open_source(str(jsonl), field="q", shuffle=True, seed=3).documents())
    s2 = list(open_source(str(jsonl), field="q", shuffle=True, seed=3).documents())
    s3 = list(open_source(str(jsonl), field="q", shuffle=True, seed=4).documents())
    assert s1 == s2 and sorted(s1) == sorted(plain) and s1 != plain and s1 != s3
    assert list(open_source(str(jsonl), field="q", shuffle=True, seed=3).documents(5)) == s1[5:]


def test_empty_and_missing_sources(tmp_path):
    empty = tmp_path / "e.txt"
    empty.write_text("\n\n")
    with pytest.raises(FastpruneError, match="empty"):
        open_source(str(empty))
    with pytest.raises(FastpruneError, match="not found"):
        open_source(str(tmp_path / "nope.jsonl"))
    with pytest.raises(FastpruneError, match="directory"):
        open_source(str(tmp_path))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{broken\n')
    with pytest.raises(FastpruneError, match="line 2 is not valid JSON"):
        list(open_source(str(bad)).documents())


def test_shorthands_read_the_shared_files(shared_data):
    gsm = open_source("gsm8k-train")
    first = next(gsm.documents())
    assert first.startswith("Natalia sold clips") and "#### 72" in first
    assert next(open_source("wikitext2").documents()).strip() == "= Homarus gammarus ="
    assert next(open_source("gsm8k-train", field="question").documents()).endswith("in April and May?")


def test_hf_datasets_streaming_on_a_local_file(shared_data):
    src = open_source(f"hf:json:{shared_data}/gsm8k/test.jsonl", template="{question}\n{answer}")
    local = open_source("gsm8k-test")
    it, ref = src.documents(3), local.documents(3)
    assert [next(it) for _ in range(3)] == [next(ref) for _ in range(3)]


def test_hub_dataset_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FastpruneError, match="cannot open dataset 'someone/some-corpus'.*local file"):
        open_source("someone/some-corpus")


def test_malformed_jsonl_line_is_reported_with_file_and_line_number(tmp_path):
    path = tmp_path / "p.jsonl"
    # blank lines are skipped as documents but still count as lines of the file
    path.write_text('{"text": "a"}\n\n{"text": "b"}\n{"text": "c"\n{"text": "d"}\n')
    source = open_source(str(path))
    with pytest.raises(FastpruneError, match=rf"{path}: line 4 is not valid JSON"):
        list(source.documents())
    with pytest.raises(FastpruneError, match=rf"{path}: line 4 is not valid JSON"):
        list(open_source(str(path), shuffle=True, seed=1, validate=False).documents())


def test_records_say_where_each_came_from(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('\n{"text": "a"}\n{"text": "b"}\n')
    assert list(open_source(str(path)).records()) == [(f"{path}:2", {"text": "a"}), (f"{path}:3", {"text": "b"})]
    arr = tmp_path / "a.json"
    arr.write_text(json.dumps([{"text": "x"}, {"text": "y"}]))
    assert [w for w, _ in open_source(str(arr)).records(1)] == [f"{arr}[1]"]


def test_corpus_without_text_uses_the_detected_prompt_field(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": 1, "question": "q1", "answer": "a1"}\n{"id": 2, "question": "q2", "answer": "a2"}\n')
    assert list(open_source(str(path)).documents()) == ["q1", "q2"]
