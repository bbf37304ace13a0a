"""fastprune requests <-> OpenAI completions requests, and the HTTP calls (plain and streamed).

A ``GenerationRequest`` carries token ids, so the prompt goes to ``/v1/completions`` as a list of ids:
the server tokenizes nothing and sees exactly the ids fastprune's own engine would (chat template and
BOS included). Every sampling field is sent explicitly, so the model's ``generation_config.json``
defaults that vLLM would otherwise apply (top-k, repetition penalty) do not change the answers.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from dataclasses import dataclass, field

from fastprune.engines.request_types import GenerationRequest, GenerationResult
from fastprune.errors import FastpruneError


def completion_payload(model: str, request: GenerationRequest) -> dict:
    s = request.sampling
    payload = {
        "model": model,
        "prompt": list(request.prompt_ids),
        "max_tokens": s.max_new_tokens,
        "temperature": s.temperature,
        "top_p": s.top_p,
        "top_k": s.top_k if s.top_k > 0 else -1,  # vLLM: -1 disables top-k
        "min_p": 0.0,
        "repetition_penalty": 1.0,
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "n": 1,
        "return_token_ids": True,
        "skip_special_tokens": True,
    }
    if s.seed is not None:
        payload["seed"] = s.seed
    if s.stop_strings:
        payload["stop"] = list(s.stop_strings)
    if s.stop_token_ids:
        payload["stop_token_ids"] = list(s.stop_token_ids)
    if s.ignore_eos:
        payload["ignore_eos"] = True
    return payload


def finish_reason(choice: dict) -> str:
    """OpenAI/vLLM finish reason -> fastprune's: ``length``, ``stop_string`` or ``eos``.

    vLLM says ``stop`` for both an EOS and a stop string; ``stop_reason`` tells them apart (the matched
    string, or the stop token id / None for EOS).
    """
    reason = choice.get("finish_reason")
    if reason == "length":
        return "length"
    if reason == "stop":
        return "stop_string" if isinstance(choice.get("stop_reason"), str) else "eos"
    raise FastpruneError(f"the server ended a completion with an unknown finish reason {reason!r}")


def parse_completion(body: dict, request: GenerationRequest) -> GenerationResult:
    choices = body.get("choices") or []
    if len(choices) != 1:
        raise FastpruneError(f"request {request.id!r}: the server returned {len(choices)} choices, not 1")
    choice = choices[0]
    token_ids = choice.get("token_ids")
    if token_ids is None:
        completion_tokens = (body.get("usage") or {}).get("completion_tokens")
        if completion_tokens is None:
            raise FastpruneError(f"request {request.id!r}: the server reported neither token ids nor usage")
        token_ids = []
        num_tokens = int(completion_tokens)
    else:
        token_ids = [int(t) for t in token_ids]
        num_tokens = len(token_ids)
    return GenerationResult(id=request.id, prompt_ids=list(request.prompt_ids), token_ids=token_ids,
                            text=choice.get("text") or "", finish_reason=finish_reason(choice),
                            num_tokens=num_tokens)


@dataclass
class StreamTiming:
    """One streamed completion: when it was sent, when each chunk arrived, tokens generated."""

    sent: float
    chunk_times: list[float] = field(default_factory=list)
    output_tokens: int = 0
    prompt_tokens: int = 0
    finish_reason: str | None = None

    @property
    def ttft(self) -> float:
        return self.chunk_times[0] - self.sent

    @property
    def latency(self) -> float:
        return self.chunk_times[-1] - self.sent

    @property
    def tpot(self) -> float | None:
        """Time per output token after the first; None for a one-token answer."""
        if self.output_tokens < 2:
            return None
        return (self.latency - self.ttft) / (self.output_tokens - 1)


class CompletionsClient:
    """Blocking calls to one server; a client per thread (``http.client`` connections are not shared)."""

    def __init__(self, url: str, timeout: float = 3600.0):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FastpruneError(f"server url must look like http://host:port, got {url!r}")
        self.parts = parts
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self.parts.scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self.parts.hostname, self.parts.port, timeout=self.timeout)
        return self._conn

    def _post(self, path: str, payload: dict) -> http.client.HTTPResponse:
        body = json.dumps(payload).encode()
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request("POST", self.prefix + path, body=body, headers={"Content-Type": "application/json"})
                return conn.getresponse()
            except (http.client.RemoteDisconnected, http.client.ImproperConnectionState, BrokenPipeError,
                    ConnectionResetError):
                # A kept-alive connection the server closed meanwhile: one fresh try.
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def complete(self, payload: dict) -> dict:
        try:
            response = self._post("/v1/completions", payload)
            data = response.read()
        except OSError as exc:
            self.close()
            raise FastpruneError(f"the server at {self.parts.netloc} dropped a completion request ({exc})") from None
        if response.status != 200:
            raise FastpruneError(f"the server refused a completion request (HTTP {response.status}): "
                                 f"{_error_message(data)}")
        return json.loads(data)

    def stream(self, payload: dict) -> StreamTiming:
        """A streamed completion, timing the arrival of every chunk that carries text."""
        payload = {**payload, "stream": True, "stream_options": {"include_usage": True}}
        payload.pop("return_token_ids", None)
        timing = StreamTiming(sent=time.perf_counter())
        try:
            response = self._post("/v1/completions", payload)
            if response.status != 200:
                raise FastpruneError(f"the server refused a streamed request (HTTP {response.status}): "
                                     f"{_error_message(response.read())}")
            for raw in response:
                line = raw.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    break
                chunk = json.loads(data)
                now = time.perf_counter()
                choices = chunk.get("choices") or []
                if choices:
                    # A token step can stream empty text (a special token, half a UTF-8 character): its
                    # arrival still times the step.
                    timing.chunk_times.append(now)
                for choice in choices:
                    if choice.get("finish_reason"):
                        timing.finish_reason = choice["finish_reason"]
                usage = chunk.get("usage")
                if usage:
                    timing.output_tokens = int(usage.get("completion_tokens") or 0)
                    timing.prompt_tokens = int(usage.get("prompt_tokens") or 0)
            # Drain what follows [DONE] (the chunked-encoding end): a kept-alive connection whose last
            # response was not read to its end cannot send the next request.
            response.read()
        except OSError as exc:
            self.close()
            raise FastpruneError(f"the server at {self.parts.netloc} dropped a streamed request ({exc})") from None
        if not timing.chunk_times:
            raise FastpruneError("a streamed completion returned no chunk at all; cannot time its first token")
        return timing

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _error_message(data: bytes) -> str:
    try:
        body = json.loads(data)
    except ValueError:
        return data.decode(errors="replace")[:500]
    error = body.get("error", body)
    if isinstance(error, dict):
        return str(error.get("message", error))[:500]
    return str(error)[:500]
