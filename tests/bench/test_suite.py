import json

import pytest

from fastprune.bench.options import BenchOptions
from fastprune.bench.suite import run_bench
from fastprune.cli import main
from fastprune.errors import FastpruneError
from fastprune.models.options import ModelOptions


def test_bench_with_in_memory_pruned_variants(tmp_path):
    settings = BenchOptions(models=["tiny:qwen3:6"], batch_sizes=[1, 2], prompt_len=8, new_tokens=3,
                            drop_layers=[2], warmup=0, repeats=1, compare_hf=True, load=ModelOptions(device="cpu"),
                            out=str(tmp_path))
    doc = run_bench(settings)
    rows = doc["rows"]
    assert {(r["num_layers"], r["backend"], r["batch_size"]) for r in rows} == {
        (n, b, bs) for n in (6, 4) for b in ("engine", "hf", "hf-static") for bs in (1, 2)
    }
    for r in rows:
        assert r["prefill_s"]["median"] > 0 and r["decode_step_s"]["median"] > 0
        assert r["samples"]["decode_step_s"] and r["padded_token_share"] == 0.0
        if r["num_layers"] == 6:
            assert r["speedup_decode"] == 1.0 and r["ideal_layers"] == 1.0
        else:
            assert r["ideal_layers"] == pytest.approx(1.5) and r["layers_removed"] == 2
            # one repeat: a ratio but no interval, and the flag says so
            assert r["speedup_decode_ci"]["low"] is None and not r["reliable"]
            assert any("no interval" in x for x in r["unreliable"]["decode"])
        if r["backend"] == "engine":
            assert r["engine_vs_hf_decode"] > 0 and r["fastest_hf"] in ("hf", "hf-static")
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(rows)) and "torch" in saved and "device" in saved
    assert saved["provenance"]["threads"] >= 1 and "commit" in saved["provenance"]
    assert saved["noise"]["cores_in_use"] == saved["provenance"]["threads"]
    assert (tmp_path / "speedup.png").stat().st_size > 1000


def test_bench_cli_compares_a_pruned_checkpoint(tmp_path, capsys):
    pruned = tmp_path / "pruned"
    assert main(["prune", "tiny:llama:4", "--strategy", "reverse", "--drop", "1", "--out", str(pruned),
                 "--quiet"]) == 0
    assert main(["bench", "tiny:llama:4", str(pruned), "--batch-sizes", "1", "--prompt-len", "4",
                 "--new-tokens", "2", "--repeats", "1", "--warmup", "0", "--device", "cpu",
                 "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "ideal S*" in out
    rows = json.loads((tmp_path / "b" / "bench.json").read_text())["rows"]
    assert [r["num_layers"] for r in rows] == [4, 3]


def test_rounds_pool_samples_from_every_round_in_first_seen_order(tmp_path, capsys, monkeypatch):
    import fastprune.bench.suite as suite

    order = []
    real_one_sample = suite.one_sample

    def spy(fn, point, device):
        order.append(fn)
        return real_one_sample(fn, point, device)

    monkeypatch.setattr(suite, "one_sample", spy)
    settings = BenchOptions(models=["tiny:llama:4"], batch_sizes=[1], prompt_len=4, new_tokens=3, drop_layers=[1],
                            warmup=0, repeats=2, rounds=3, load=ModelOptions(device="cpu"), out=str(tmp_path))
    doc = run_bench(settings)
    rows = doc["rows"]
    assert [r["num_layers"] for r in rows] == [4, 3]
    for r in rows:
        assert r["rounds"] == 3
        assert r["prefill_s"]["n"] == r["decode_step_s"]["n"] == 6  # 2 repeats x 3 rounds
    # interleaved within each round: base, pruned, base, pruned (never two samples of one variant in a row)
    assert len(order) == 12 and all(a is not b for a, b in zip(order, order[1:], strict=False))
    assert rows[1]["speedup_decode_ci"]["low"] is not None and rows[1]["speedup_decode_ci"]["n"] == 6
    assert len(doc["noise"]["load_by_round"]) == 3
    log = capsys.readouterr().err
    assert log.count("round 3/3") == 3 and log.index("round 1/3") < log.index("round 2/3")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rounds": 0}, "rounds >= 1"),
        ({"new_tokens": 1}, "new-tokens >= 2"),
        ({"batch_sizes": [0]}, "batch sizes >= 1"),
        ({"no_engine": True}, "nothing to measure"),
        ({"drop_layers": [5]}, "has only 6 layers"),
        ({"drop_layers": [-1]}, "--drop-layers: expected non-negative"),
        ({"compare_hf": True, "hf_variants": ["turbo"]}, "choose from dynamic, static, compile"),
        ({"max_cv": 0}, "max-cv > 0"),
    ],
)
def test_bad_settings(kwargs, message, tmp_path):
    settings = BenchOptions(models=["tiny:llama:6"], out=str(tmp_path / "b"), load=ModelOptions(device="cpu"),
                            warmup=0, repeats=1, prompt_len=4, **{"batch_sizes": [1], "new_tokens": 2, **kwargs})
    with pytest.raises(FastpruneError, match=message):
        run_bench(settings)


def test_bad_list_on_the_command_line(capsys):
    assert main(["bench", "tiny:llama:2", "--batch-sizes", "1,x", "--out", "unused"]) == 2
    assert "comma-separated list of integers" in capsys.readouterr().err


def test_a_baseline_that_fails_to_compile_is_reported_not_fatal(tmp_path, monkeypatch, capsys):
    import torch

    def no_compiler(fn, **kwargs):
        raise RuntimeError("no C++ compiler here")

    monkeypatch.setattr(torch, "compile", no_compiler)
    settings = BenchOptions(models=["tiny:llama:3"], batch_sizes=[1], prompt_len=4, new_tokens=2, warmup=0,
                            repeats=2, compare_hf=True, hf_variants=["static", "compile"],
                            load=ModelOptions(device="cpu"), out=str(tmp_path))
    doc = run_bench(settings)
    assert [r["backend"] for r in doc["rows"]] == ["engine", "hf-static"]
    assert doc["failed"] == ["tiny:llama:3 | hf-compile | batch 1: RuntimeError: no C++ compiler here"]
    assert "failed: tiny:llama:3 | hf-compile" in capsys.readouterr().out


def test_hf_variants_on_the_command_line(capsys):
    assert main(["bench", "tiny:llama:2", "--compare-hf", "--hf-variants", "dynamic,fast", "--out", "unused"]) == 2
    assert "choose from dynamic, static, compile" in capsys.readouterr().err
