"""``fastprune generate --engine vllm`` against a fake OpenAI server: rows, ids, prompts, resume, records."""

from __future__ import annotations

import json

from fastprune.cli import main
from fastprune.engines.encoding import encode_prompt
from fastprune.generate.prompts import load_prompts
from fastprune.generate.self_responses import request_seed
from fastprune.models import byte_tokenizer
from tests.engines.conftest import fake_server  # noqa: F401  (fixture)


def test_generate_on_a_reused_server_writes_the_same_contract_and_resumes(fake_server, tmp_path, capsys):  # noqa: F811
    record, requests = fake_server()
    src = tmp_path / "p.jsonl"
    src.write_text("".join(json.dumps({"id": f"q-{w}", "q": f"say {w}"}) + "\n" for w in ["a", "bb", "ccc"]))
    out = tmp_path / "out.jsonl"
    args = ["generate", "tiny:llama:2", "--prompts", str(src), "--field", "q", "--out", str(out),
            "--max-new-tokens", "5", "--engine", "vllm", "--vllm-url", record.url, "--no-progress"]
    assert main([*args, "--limit", "2"]) == 0
    assert "wrote 2 rows" in capsys.readouterr().err
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "2 rows already written, 1 prompts to answer" in err and "vllm runner" in err
    rows = {json.loads(line)["id"]: json.loads(line) for line in out.read_text().splitlines()}
    prompts = {p.id: p.text for p in load_prompts(str(src), field="q")[0]}
    assert set(rows) == set(prompts) and len(rows) == 3
    sent = {tuple(s["prompt"]): s for s in requests()}
    tok = byte_tokenizer()
    for pid, row in rows.items():
        assert row["finish_reason"] == "eos" and row["num_tokens"] == 3 and row["response"].startswith("t")
        assert row["prompt"] == [{"role": "user", "content": prompts[pid]}]
        body = sent[tuple(encode_prompt(tok, prompts[pid], True, None))]  # the chat-templated ids, unchanged
        assert body["seed"] == request_seed(0, pid)
        assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.9, 0.95, 5)
    meta = json.loads((tmp_path / "out.jsonl.meta.json").read_text())
    assert meta["engine"] == "vllm"
    server = json.loads((tmp_path / "out.jsonl.vllm-server.json").read_text())
    assert server["server"]["mode"] == "reused" and "provenance" in server
    # the built-in engine may not continue a file the server started: sampled answers would mix
    code = main(["generate", "tiny:llama:2", "--prompts", str(src), "--field", "q", "--out", str(out),
                 "--max-new-tokens", "5", "--no-progress", "--limit", "2"])
    # refused even with nothing left to answer: the written rows' settings are checked before anything runs
    assert code == 2 and "engine" in capsys.readouterr().err
    src.write_text(src.read_text() + json.dumps({"id": "q-new", "q": "new"}) + "\n")
    code = main(["generate", "tiny:llama:2", "--prompts", str(src), "--field", "q", "--out", str(out),
                 "--max-new-tokens", "5", "--no-progress"])
    assert code == 2 and "engine" in capsys.readouterr().err


def test_vllm_engine_without_python_or_url_is_one_error_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FASTPRUNE_VLLM_PYTHON", raising=False)
    src = tmp_path / "p.txt"
    src.write_text("hello\n")
    code = main(["generate", "tiny:llama:1", "--prompts", str(src), "--out", str(tmp_path / "o.jsonl"),
                 "--engine", "vllm", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().splitlines()[-1].startswith("error:") and "--vllm-python" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.txt"]  # nothing written
