"""cuda_graphs: guarded off the GPU; on a GPU, graph replay gives the eager runner's tokens."""

from __future__ import annotations

import pytest
import torch

from fastprune.engines import GenerationEngine, GenerationRequest, SamplingParams
from fastprune.errors import FastpruneError


def test_cuda_graphs_need_a_cuda_device(tiny):
    loaded = tiny("llama", layers=1)
    engine = GenerationEngine(loaded, max_batch_size=2, max_seq_len=32)
    assert engine.runner.name == "fast"  # auto: no graphs on CPU
    with pytest.raises(FastpruneError, match="cuda_graphs needs a CUDA device"):
        GenerationEngine(loaded, max_batch_size=2, max_seq_len=32, cuda_graphs=True)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_graph_replay_matches_eager_decode():
    from fastprune.models import load_model

    loaded = load_model("tiny:llama:4", dtype="float32", device="cuda")
    prompts = [[5, 6, 7], list(range(40, 90)), [9] * 20, [1, 2], list(range(100, 130))]
    reqs = [GenerationRequest(p, SamplingParams(max_new_tokens=40)) for p in prompts]
    eager = GenerationEngine(loaded, max_batch_size=4, max_seq_len=300, cuda_graphs=False).generate(reqs)
    graphed_engine = GenerationEngine(loaded, max_batch_size=4, max_seq_len=300, cuda_graphs=True)
    graphed = graphed_engine.generate(reqs)
    assert graphed_engine.runner.name == "fast+cudagraph" and graphed_engine.runner.graphs
    assert [r.token_ids for r in graphed] == [r.token_ids for r in eager]
