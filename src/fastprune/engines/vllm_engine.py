"""``VLLMEngine``: the generation engine's interface (``stream`` / ``generate``) served by a vLLM server.

Stages that take an engine (self-responses, evaluation) use it unchanged: the same ``GenerationRequest``
in, the same ``GenerationResult`` out, in completion order. ``concurrency`` requests are in flight at
once (a bounded thread pool, one HTTP connection per thread); the server batches them continuously.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass

from fastprune.engines import GenerationRequest, GenerationResult
from fastprune.engines.openai_client import CompletionsClient, completion_payload, parse_completion
from fastprune.errors import FastpruneError


@dataclass(frozen=True)
class _RunnerInfo:
    # What the self-response stats print as "runner" and "decode kernels".
    name: str = "vllm"
    linear_backend: str = "vllm server"


class VLLMEngine:
    def __init__(self, url: str, model: str, concurrency: int = 8, request_timeout: float = 3600.0):
        if concurrency < 1:
            raise FastpruneError(f"concurrency (requests in flight) must be >= 1, got {concurrency}")
        self.url = url
        self.model = model
        self.concurrency = concurrency
        self.request_timeout = request_timeout
        self.runner = _RunnerInfo()
        self._local = threading.local()
        self._clients: list[CompletionsClient] = []

    def _client(self) -> CompletionsClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = CompletionsClient(self.url, timeout=self.request_timeout)
            self._clients.append(client)
        return client

    def _one(self, request: GenerationRequest) -> GenerationResult:
        body = self._client().complete(completion_payload(self.model, request))
        return parse_completion(body, request)

    def generate(self, requests: Sequence[GenerationRequest], progress: bool = False) -> list[GenerationResult]:
        results: list[GenerationResult | None] = [None] * len(requests)
        for index, result in self.stream(requests, progress=progress):
            results[index] = result
        return results

    def stream(self, requests: Sequence[GenerationRequest], progress: bool = False
               ) -> Iterator[tuple[int, GenerationResult]]:
        """Yield ``(request index, result)`` as each request finishes; at most ``concurrency`` in flight."""
        requests = [r if r.id is not None else GenerationRequest(r.prompt_ids, r.sampling, id=str(i))
                    for i, r in enumerate(requests)]
        bar = _progress(len(requests), progress)
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="vllm-request")
        # Submitting lazily keeps the queue bounded and lets an error or Ctrl-C stop new requests at once.
        upcoming = iter(enumerate(requests))
        in_flight: dict = {}
        tokens, started = 0, time.perf_counter()
        try:
            for _ in range(self.concurrency):
                if not self._submit(pool, upcoming, in_flight):
                    break
            while in_flight:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    index = in_flight.pop(future)
                    result = future.result()
                    tokens += result.num_tokens
                    bar.update(1)
                    bar.set_postfix_str(f"{tokens / max(time.perf_counter() - started, 1e-9):.1f} tok/s",
                                        refresh=False)
                    self._submit(pool, upcoming, in_flight)
                    yield index, result
        finally:
            bar.close()
            pool.shutdown(wait=False, cancel_futures=True)

    def _submit(self, pool, upcoming, in_flight) -> bool:
        item = next(upcoming, None)
        if item is None:
            return False
        index, request = item
        in_flight[pool.submit(self._one, request)] = index
        return True

    def close(self) -> None:
        for client in self._clients:
            client.close()


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="generate (vllm)", unit="prompt", file=sys.stderr, dynamic_ncols=True,
                disable=not enabled)
