import numpy as np
import pytest

from fastprune.bench.compare import add_speedups, format_table
from fastprune.bench.measure import BenchPoint, summarize_point


def _row(model, layers, backend, prefill, step, batch=1, new_tokens=5, spread=0.01, seed=0, ideal=None):
    """A bench row from synthetic timings: 12 samples around ``prefill`` s and ``step`` s per decode step."""
    rng = np.random.default_rng(seed)
    point = BenchPoint(batch, 16, new_tokens)
    ttft = prefill * (1 + spread * rng.standard_normal(12))
    total = ttft + (new_tokens - 1) * step * (1 + spread * rng.standard_normal(12))
    removed = 6 - layers
    return {"model": model, "num_layers": layers, "backend": backend, "batch_size": batch, "prompt_len": 16,
            "new_tokens": new_tokens, "layers_removed": removed,
            "ideal_layers": ideal or 6 / layers, "ideal_bytes": (ideal or 6 / layers) * 0.9,
            **summarize_point(list(ttft), list(total), point)}


def test_known_speedups_with_intervals_and_no_flag_on_clean_timings():
    rows = [_row("base", 6, "engine", 0.060, 0.030), _row("base -2", 4, "engine", 0.045, 0.024, seed=1)]
    add_speedups(rows, [])
    base, pruned = rows
    assert base["speedup_decode"] == 1.0 and base["speedup_decode_ci"]["method"] == "reference"
    assert pruned["speedup_prefill"] == pytest.approx(0.060 / 0.045, rel=0.02)
    assert pruned["speedup_decode"] == pytest.approx(0.030 / 0.024, rel=0.02)
    ci = pruned["speedup_decode_ci"]
    assert ci["low"] < 1.25 < ci["high"] and ci["n"] == ci["n_base"] == 12
    assert pruned["reliable"] and base["reliable"] and pruned["unreliable"] == {}
    assert pruned["decode_vs_ideal_bytes"] == pytest.approx(pruned["speedup_decode"] / pruned["ideal_bytes"])
    table = format_table(rows)
    assert "UNRELIABLE" not in table and "!" not in table and f"[{ci['low']:.3f}, {ci['high']:.3f}]" in table


def test_slower_after_pruning_is_caught_as_noise():
    # The demo's 0.73x: 3 layers fewer but slower decoding. The interval is tight; only plausibility flags it.
    rows = [_row("base", 6, "engine", 0.060, 0.030), _row("base -2", 4, "engine", 0.050, 0.041, seed=1)]
    add_speedups(rows, [])
    assert rows[1]["speedup_decode"] == pytest.approx(0.73, abs=0.02)
    assert rows[1]["unreliable"] == {"decode": ["a model with fewer layers measured slower than its base: noise"]}
    assert not rows[1]["reliable"]
    table = format_table(rows)
    assert "UNRELIABLE" not in table.splitlines()[0] and "base -2 | engine | batch 1 | decode" in table
    assert " !" in table


def test_speedup_above_the_layer_ideal_is_caught():
    rows = [_row("base", 6, "engine", 0.060, 0.030), _row("base -1", 5, "engine", 0.050, 0.020, seed=1)]
    add_speedups(rows, [])
    assert rows[1]["speedup_decode"] == pytest.approx(1.5, rel=0.02)
    assert any("above the ideal L/(L-n) = 1.200" in r for r in rows[1]["unreliable"]["decode"])
    assert "prefill" not in rows[1]["unreliable"]  # 1.2x prefill sits at the ideal, its interval straddles it


def test_noisy_samples_and_a_busy_machine_flag_every_ratio():
    rows = [_row("base", 6, "engine", 0.060, 0.030), _row("base -2", 4, "engine", 0.045, 0.024, spread=0.3,
                                                         seed=1)]
    add_speedups(rows, ["load average 5.00 before / 5.00 after exceeds the 2 cores in use"])
    assert set(rows[0]["unreliable"]) == {"prefill", "decode"}  # the busy machine flags the base too
    reasons = rows[1]["unreliable"]["decode"]
    assert reasons[0].startswith("load average 5.00")
    assert any("CV" in r for r in reasons) and any("of the ratio wide" in r for r in reasons)


def test_series_are_per_backend_and_batch_and_the_fastest_hf_is_named():
    rows = [_row("base", 6, "engine", 0.060, 0.030), _row("base", 6, "hf", 0.090, 0.080, seed=2),
            _row("base", 6, "hf-static", 0.080, 0.060, seed=3),
            _row("base", 6, "engine", 0.100, 0.050, batch=8, seed=4)]
    add_speedups(rows, [])
    assert all(r["speedup_decode"] == 1.0 for r in rows)  # each is the first of its own series
    engine = rows[0]
    assert engine["fastest_hf"] == "hf-static"
    assert engine["engine_vs_hf_decode"] == pytest.approx(2.0, rel=0.03)
    assert engine["engine_vs_hf_decode_ci"]["hf"]["value"] == pytest.approx(80 / 30, rel=0.03)
    assert "engine_vs_hf_decode" not in rows[3]  # no HF measured at batch 8


def test_a_decode_time_below_zero_is_flagged_as_disturbed():
    point = BenchPoint(1, 16, 5)
    ttft, total = [0.05] * 6, [0.05 + 4 * 0.03] * 5 + [0.04]  # the last N-token run beat the 1-token run
    disturbed = {"model": "base", "num_layers": 6, "backend": "engine", "batch_size": 1, "layers_removed": 0,
                 "ideal_layers": 1.0, "ideal_bytes": 1.0, **summarize_point(ttft, total, point)}
    assert disturbed["decode_step_s"]["nonpositive"] == 1
    pruned = _row("base -2", 4, "engine", 0.045, 0.024, seed=1)
    add_speedups([disturbed, pruned], [])
    assert disturbed["unreliable"]["decode"] == ["CV 49% of its samples (limit 10%)",
                                                 "this model: 1 of 6 samples ran N tokens no slower than 1 "
                                                 "(decode time <= 0: disturbed)"]
    assert any(r.startswith("base: 1 of 6 samples") for r in pruned["unreliable"]["decode"])
    assert "prefill" not in disturbed["unreliable"]
