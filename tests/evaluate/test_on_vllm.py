"""``fastprune eval --engine vllm`` against the fake OpenAI server: generation routed, scoring local."""

from __future__ import annotations

import json

from fastprune.cli import main
from fastprune.engines.vllm_server import _LIVE
from tests.engines.conftest import fake_server, fake_vllm_python  # noqa: F401  (fixtures)


def _eval(out, *extra):
    return main(["eval", "tiny:llama:2", "--tasks", "arith,parens", "--limit", "3", "--out", str(out),
                 "--max-new-tokens", "4", "--no-progress", "--engine", "vllm", *extra])


def test_generative_tasks_run_on_the_server(fake_server, tmp_path):  # noqa: F811
    record, requests = fake_server()
    out = tmp_path / "eval"
    assert _eval(out, "--vllm-url", record.url) == 0
    scores = json.loads((out / "scores.json").read_text())["tiny:llama:2"]
    assert scores["arith"]["n"] == 3 and scores["parens"]["n"] == 3
    rows = [json.loads(line) for line in (out / "samples" / "0_tiny_llama_2" / "arith.jsonl").read_text().splitlines()]
    sent = requests()
    assert len(sent) == 6 and all(s["max_tokens"] == 4 and s["temperature"] == 0.0 for s in sent)
    # every generation is the server's answer (the fake's deterministic tokens), stop strings passed on
    assert all(r["generation"].startswith("t") for r in rows)
    assert sent[0]["stop"] == ["\n", "Q:"]
    run = json.loads((out / "run.json").read_text())
    assert run["engine"]["tiny:llama:2"]["mode"] == "reused" and run["engine"]["tiny:llama:2"]["url"] == record.url


def test_started_server_per_model_and_stopped_after_a_failed_task(fake_vllm_python, fake_server, tmp_path,  # noqa: F811
                                                                   monkeypatch, capsys):
    bystander, _ = fake_server()  # a server someone else in this process started: eval must leave it alone
    out = tmp_path / "eval"
    assert _eval(out, "--vllm-python", fake_vllm_python, "--vllm-timeout", "20") == 0
    run = json.loads((out / "run.json").read_text())
    info = run["engine"]["tiny:llama:2"]
    assert info["mode"] == "started" and (out / "vllm-tiny_llama_2.log").exists()
    assert info["env"]["VLLM_CPU_KVCACHE_SPACE"] == "1" and "--max-model-len" in info["command"]
    assert (out / "vllm-checkpoint-tiny_llama_2" / "config.json").exists()  # the in-memory model, saved
    assert [s.record.url for s in _LIVE] == [bystander.url]
    monkeypatch.setenv("FAKE_MODE", "fail-completions")
    code = _eval(tmp_path / "eval2", "--vllm-python", fake_vllm_python, "--vllm-timeout", "20")
    assert code == 2 and "fake failure" in capsys.readouterr().err
    assert [s.record.url for s in _LIVE] == [bystander.url]  # the failed run's server was stopped, not others


def test_vllm_url_with_two_models_is_refused(tmp_path, capsys):
    code = main(["eval", "tiny:llama:2", "tiny:llama:1", "--tasks", "arith", "--out", str(tmp_path / "e"),
                 "--engine", "vllm", "--vllm-url", "http://127.0.0.1:9"])
    assert code == 2 and "--vllm-url serves one model" in capsys.readouterr().err
