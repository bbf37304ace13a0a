"""The speed section of report.md: intervals, n, and unreliable ratios named with their reasons."""

import json

from fastprune.pipeline.report import _bench_section


def _row(layers, decode, ci, unreliable=None):
    return {"model": f"runs/x/m{layers}", "num_layers": layers, "backend": "engine", "batch_size": 1,
            "prefill_s": {"median": 0.05, "n": 6}, "decode_step_s": {"median": 0.02, "n": 6},
            "speedup_prefill": 1.0, "speedup_prefill_ci": {"value": 1.0, "low": 1.0, "high": 1.0,
                                                           "method": "reference"},
            "speedup_decode": decode, "speedup_decode_ci": ci, "ideal_layers": 30 / layers,
            "ideal_bytes": 1.0, "unreliable": unreliable or {}}


def test_speed_section_shows_intervals_and_flags(tmp_path):
    (tmp_path / "bench").mkdir()
    doc = {"device": "cpu", "torch": "2", "provenance": {"threads": 2, "cpu_count": 2, "cpu_model": "X"},
           "noise": {"load_before": [3.1, 2, 2], "load_after": [3.5, 2, 2], "steal_share": 0.0},
           "failed": ["m30 | hf-compile | batch 1: BackendCompilerFailed: no compiler"],
           "rows": [_row(30, 1.0, {"value": 1.0, "low": 1.0, "high": 1.0, "method": "reference"}),
                    _row(27, 0.73, {"value": 0.73, "low": 0.70, "high": 0.76, "method": "percentile bootstrap"},
                         {"decode": ["a model with fewer layers measured slower than its base: noise"]})]}
    (tmp_path / "bench" / "bench.json").write_text(json.dumps(doc))
    text = "\n".join(_bench_section(tmp_path))
    assert "load average [3.1, 2, 2] before, [3.5, 2, 2] after" in text
    assert "| m27 | 27 | engine | 1 | 6 | 50.0 | 20.0 | 1.000 | 0.730 [0.700, 0.760] **!** |" in text
    assert "| m30 | 30 | engine | 1 | 6 | 50.0 | 20.0 | 1.000 | 1.000 |" in text  # the reference: no interval
    assert "**1 ratio(s) unreliable" in text
    assert "- m27, engine, batch 1, decode: a model with fewer layers measured slower than its base: noise" in text
    assert "not measured: m30 | hf-compile" in text
