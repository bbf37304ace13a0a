import json

import pytest

from fastprune.bench.suite import BenchSettings, run_bench
from fastprune.cli import main
from fastprune.errors import FastpruneError


def test_bench_with_in_memory_pruned_variants(tmp_path):
    settings = BenchSettings(models=["tiny:qwen3:6"], batch_sizes=[1, 2], prompt_len=8, new_tokens=3,
                             drop_layers=[2], warmup=0, repeats=1, compare_hf=True, device="cpu",
                             out=str(tmp_path))
    doc = run_bench(settings)
    rows = doc["rows"]
    assert {(r["num_layers"], r["backend"], r["batch_size"]) for r in rows} == {
        (n, b, bs) for n in (6, 4) for b in ("engine", "hf") for bs in (1, 2)
    }
    for r in rows:
        assert r["prefill_s"]["median"] > 0 and r["decode_step_s"]["median"] > 0
        if r["num_layers"] == 6:
            assert r["speedup_decode"] == 1.0 and r["ideal_layers"] == 1.0
        else:
            assert r["ideal_layers"] == pytest.approx(1.5) and r["layers_removed"] == 2
        if r["backend"] == "engine":
            assert r["engine_vs_hf_decode"] > 0
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(rows)) and "torch" in saved and "device" in saved
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


def test_rounds_pool_samples_from_every_round_in_first_seen_order(tmp_path, capsys):
    settings = BenchSettings(models=["tiny:llama:4"], batch_sizes=[1], prompt_len=4, new_tokens=3,
                             drop_layers=[1], warmup=0, repeats=2, rounds=3, device="cpu", out=str(tmp_path))
    rows = run_bench(settings)["rows"]
    assert [r["num_layers"] for r in rows] == [4, 3]
    for r in rows:
        assert r["rounds"] == 3
        assert r["prefill_s"]["n"] == r["decode_step_s"]["n"] == 6  # 2 repeats x 3 rounds
    log = capsys.readouterr().err
    assert log.count("round 3/3") == 2 and log.index("round 1/3") < log.index("round 2/3")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rounds": 0}, "rounds >= 1"),
        ({"new_tokens": 1}, "new-tokens >= 2"),
        ({"batch_sizes": [0]}, "batch sizes >= 1"),
        ({"engine": False}, "nothing to measure"),
        ({"drop_layers": [5]}, "has only 6 layers"),
    ],
)
def test_bad_settings(kwargs, message):
    settings = BenchSettings(models=["tiny:llama:6"], device="cpu", warmup=0, repeats=1, prompt_len=4,
                             **{"batch_sizes": [1], "new_tokens": 2, **kwargs})
    with pytest.raises(FastpruneError, match=message):
        run_bench(settings)


def test_bad_list_on_the_command_line(capsys):
    assert main(["bench", "tiny:llama:2", "--batch-sizes", "1,x", "--out", "unused"]) == 2
    assert "comma-separated list of integers" in capsys.readouterr().err
