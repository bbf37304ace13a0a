"""pytest-benchmark JSON written from benchmarks/ records run_provenance() like every other result file."""

from __future__ import annotations


def pytest_benchmark_update_json(config, benchmarks, output_json):
    import torch

    from fastprune.provenance import run_provenance

    output_json["provenance"] = run_provenance(threads=torch.get_num_threads())
