"""CUDA-graph replay of the fast runner's decode step (GPU only; the CPU path never imports this).

A decode step is hundreds of small kernels; on a GPU their launch cost, not the weights, bounds batch-1
speed. Each (batch bucket, KV-length bucket) pair is captured once, lazily, into a shared memory pool and
then replayed with the step's tokens and positions copied into static input buffers.

Bucketing keeps the graph count small: batch sizes round up to a power of two (capped at the cache's
slots), KV lengths to a multiple of ``kv_bucket``. Padded rows are idle slots (the engine decodes rows
``0..hi-1`` where ``hi - 1`` is the highest busy slot) and write only position ``max_seq_len - 1``, which
no real sequence ever writes: the engine stops a sequence once prompt + answer reaches ``max_seq_len``,
so the token at the last position is never fed back. Capture and warm-up runs use that position too, so
capturing in the middle of a generation cannot disturb live cache entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class _Captured:
    graph: torch.cuda.CUDAGraph
    ids: torch.Tensor
    pos: torch.Tensor
    logits: torch.Tensor


class CudaGraphRunner:
    """Wraps a ``FastRunner`` on a CUDA device: eager prefill, graph-replayed decode."""

    def __init__(self, runner, kv_bucket: int = 256):
        self.runner = runner
        self.name = f"{runner.name}+cudagraph"
        self.store = runner.store
        self.kv_bucket = kv_bucket
        self.graphs: dict[tuple[int, int], _Captured] = {}
        self.pool = torch.cuda.graph_pool_handle()

    def prefill(self, slots, prompts):
        return self.runner.prefill(slots, prompts)

    def _buckets(self, b: int, kv_len: int) -> tuple[int, int]:
        bb = min(1 << (b - 1).bit_length(), self.store.max_batch)
        kv = min(-(-kv_len // self.kv_bucket) * self.kv_bucket, self.store.max_seq_len)
        return bb, kv

    @torch.inference_mode()
    def _capture(self, bb: int, kv: int) -> _Captured:
        dev = self.runner.device
        ids = torch.zeros(bb, dtype=torch.long, device=dev)
        pos = torch.full((bb,), self.store.max_seq_len - 1, dtype=torch.long, device=dev)
        side = torch.cuda.Stream(dev)
        side.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(side):
            for _ in range(2):  # warm-up: cuBLAS handles, autotuning, lazy cache allocation
                self.runner.decode_tensors(ids, pos, kv)
        torch.cuda.current_stream(dev).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            logits = self.runner.decode_tensors(ids, pos, kv)
        return _Captured(graph, ids, pos, logits)

    @torch.inference_mode()
    def decode(self, tokens: list[int], positions: list[int]) -> torch.Tensor:
        b = len(tokens)
        key = self._buckets(b, max(positions) + 1)
        cap = self.graphs.get(key)
        if cap is None:
            cap = self.graphs[key] = self._capture(*key)
        bb = key[0]
        cap.ids.copy_(torch.tensor(tokens + [0] * (bb - b)), non_blocking=True)
        cap.pos.copy_(torch.tensor(positions + [self.store.max_seq_len - 1] * (bb - b)), non_blocking=True)
        cap.graph.replay()
        return cap.logits[:b]
