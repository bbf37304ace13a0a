"""``fastprune bench --engine vllm`` end to end against the fake OpenAI server started as vLLM would be."""

from __future__ import annotations

import json

import pytest

from fastprune.bench.serving import ServingSettings, parse_mix, request_set
from fastprune.cli import main
from fastprune.errors import FastpruneError
from tests.engines.conftest import fake_vllm_python  # noqa: F401  (fixture)


def test_mix_and_requests_are_fixed_by_the_seed():
    assert parse_mix("128:32, 512:64") == [(128, 32), (512, 64)]
    with pytest.raises(FastpruneError, match="--mix"):
        parse_mix("128")
    s = ServingSettings(models=["m"], concurrencies=[1], mix=[(5, 2), (9, 3)], requests=4, rounds=1, warmup=0,
                        seed=0, out=None)
    a, b = request_set(s, 4, 50, {7}, 0), request_set(s, 4, 50, {7}, 0)
    assert [len(r.prompt_ids) for r in a] == [5, 9, 5, 9] and [r.sampling.max_new_tokens for r in a] == [2, 3, 2, 3]
    assert [r.prompt_ids for r in a] == [r.prompt_ids for r in b] and all(7 not in r.prompt_ids for r in a)
    assert all(r.sampling.ignore_eos and r.sampling.greedy for r in a)


def test_serving_bench_base_vs_pruned(fake_vllm_python, tmp_path, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv("FAKE_TOKEN_DELAY", "0.002")
    out = tmp_path / "bench"
    code = main(["bench", "tiny:llama:4", "tiny:llama:2", "--engine", "vllm", "--vllm-python", fake_vllm_python,
                 "--concurrency", "1,3", "--mix", "8:4,16:6", "--serving-requests", "6", "--warmup", "1",
                 "--out", str(out), "--vllm-timeout", "20"])
    assert code == 0
    doc = json.loads((out / "bench_serving.json").read_text())
    assert [(p["model"], p["concurrency"]) for p in doc["points"]] == [
        ("tiny:llama:4", 1), ("tiny:llama:4", 3), ("tiny:llama:2", 1), ("tiny:llama:2", 3)]
    p = doc["points"][3]
    assert p["requests"] == 6 and p["output_tokens"] == 3 * 4 + 3 * 6
    assert p["ttft_s"]["ci95"] is not None and p["tpot_s"]["median"] > 0.0015
    assert set(p["speedup"]) == {"tpot", "ttft", "output_rate"} and "TPOT speedup" in p["verdict"]
    assert doc["models"]["tiny:llama:2"]["ideals"]["ideal_layers"] == pytest.approx(2.0)
    assert doc["models"]["tiny:llama:2"]["server"]["mode"] == "started"
    assert "provenance" in doc and "loaded" in doc["machine_load"]
    assert "TTFT ms" in capsys.readouterr().out


def test_drop_layers_needs_the_builtin_engine(tmp_path, capsys):
    code = main(["bench", "tiny:llama:2", "--engine", "vllm", "--drop-layers", "1", "--out", str(tmp_path)])
    assert code == 2 and "--drop-layers" in capsys.readouterr().err
