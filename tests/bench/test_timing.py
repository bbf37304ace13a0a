import pytest
import torch

from fastprune.bench.timing import peak_memory, reset_peak_memory, summarize, time_call


def test_summarize_percentiles():
    s = summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert s["median"] == 3.0 and s["n"] == 5
    assert s["p10"] == pytest.approx(1.4) and s["p90"] == pytest.approx(4.6)
    with pytest.raises(ValueError):
        summarize([])


def test_time_call_and_peak_memory_on_cpu():
    cpu = torch.device("cpu")
    reset_peak_memory(cpu)
    seconds = time_call(lambda: torch.ones(256, 256) @ torch.ones(256, 256), cpu)
    assert 0 < seconds < 10
    mem = peak_memory(cpu)
    assert mem["device_peak_bytes"] is None and mem["host_peak_rss_bytes"] > 0
