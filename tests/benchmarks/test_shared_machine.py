"""bench_shared_machine.py's parent side: which workers run, and the ratios its summary reports."""


import pytest

from tests.benchmarks.scripts import load_script


def _module():
    return load_script("bench_shared_machine")


def test_cells_cover_the_chosen_workers_only():
    bench = _module()
    args = bench.parse_args(["--workers", "after,pinned", "--threads", "2", "--batches", "1,8"])
    assert [bench.key(c) for c in bench.cells(args)] == [
        "after/t2/decode_b1", "after/t2/decode_b8", "after/t2/calibrate",
        "pinned/t2/decode_b1", "pinned/t2/decode_b8", "pinned/t2/calibrate"]
    with pytest.raises(SystemExit, match="choose from before, after, pinned"):
        bench.chosen_workers(bench.parse_args(["--workers", "after,turbo"]))


def test_pinned_is_compared_with_after_and_before_per_condition():
    bench = _module()
    records = []
    for worker, speed in (("before", 10.0), ("after", 20.0), ("pinned", 30.0)):
        for condition, factor in (("quiet", 2.0), ("burner", 1.0)):
            for jitter in (0.9, 1.0, 1.1):
                records.append({"worker": worker, "threads": 2, "task": "decode", "batch": 1,
                                "condition": condition, "tokens_per_s": speed * factor * jitter})
    summary = bench.summarise(records, None)
    pinned = summary["pinned/t2/decode_b1"]
    assert pinned["pinned_over_after_burner"]["median"] == pytest.approx(1.5)
    assert pinned["pinned_over_before_quiet"]["median"] == pytest.approx(3.0)
    assert pinned["pinned_over_after_pooled"]["n"] == [6, 6]
    lo, hi = pinned["pinned_over_after_burner"]["ci95"]
    assert lo < 1.5 < hi
    assert summary["after/t2/decode_b1"]["after_over_before_burner"]["median"] == pytest.approx(2.0)
    assert not any(k.startswith("before_over") for k in summary["before/t2/decode_b1"])
