"""A tiny OpenAI-compatible completions server, started by the tests exactly as vLLM would be.

It takes vLLM's command line (``--model DIR --host H --port P`` and anything else, ignored) and answers
``/health``, ``/v1/models``, ``/version`` and ``/v1/completions`` (plain and streamed). Each answer is
deterministic: ``FAKE_TOKENS`` tokens (default 3) whose ids are ``(sum(prompt ids) + seed + k) % 200``,
each decoded as ``"t<id> "``; ``max_tokens`` below that cuts it with finish reason ``length``.
Environment knobs: ``FAKE_MODE`` = ok | crash (exit 3 at start) | hang (never ready) | fail-completions (HTTP 500),
``FAKE_READY_DELAY`` seconds, ``FAKE_CHILD_PIDFILE`` (fork a grandchild that sleeps and write both pids
there, so tests can check the whole process group dies), ``FAKE_REQUEST_LOG`` (append every request body
as a JSON line), ``FAKE_TOKEN_DELAY`` seconds per streamed token, ``FAKE_EMPTY_TEXT`` (stream empty text).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_lock = threading.Lock()


def _tokens(body: dict) -> tuple[list[int], str]:
    prompt = body["prompt"]
    ids = prompt if isinstance(prompt, list) else [ord(c) for c in prompt]
    seed = body.get("seed") or 0
    n = int(os.environ.get("FAKE_TOKENS", "3"))
    limit = body.get("max_tokens", 16)
    if body.get("ignore_eos"):
        n = limit
    out = [(sum(ids) + seed + k) % 200 for k in range(min(n, limit))]
    return out, ("length" if limit < n or (body.get("ignore_eos") and limit == n) else "stop")


class Handler(BaseHTTPRequestHandler):
    model = "fake"
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, as vLLM's uvicorn serves them
    disable_nagle_algorithm = True  # each streamed token leaves at once

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def log_message(self, fmt, *args):
        sys.stderr.write("fake: " + fmt % args + "\n")

    def _json(self, obj: dict, status: int = 200) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/v1/models":
            self._json({"data": [{"id": self.model, "root": self.model}]})
        elif self.path == "/version":
            self._json({"version": "0.0-fake"})
        else:
            self._json({"error": "not found"}, 404)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        log = os.environ.get("FAKE_REQUEST_LOG")
        if log:
            with _lock, open(log, "a") as f:
                f.write(json.dumps(body) + "\n")
        if os.environ.get("FAKE_MODE") == "fail-completions":
            self._json({"error": {"message": "fake failure"}}, 500)
            return
        if self.path != "/v1/completions":
            self._json({"error": "not found"}, 404)
            return
        if body.get("model") != self.model:
            self._json({"error": {"message": f"model {body.get('model')!r} does not exist"}}, 404)
            return
        ids, finish = _tokens(body)
        if not body.get("stream"):
            choice = {"index": 0, "text": "".join(f"t{i} " for i in ids), "finish_reason": finish,
                      "stop_reason": None}
            if body.get("return_token_ids"):
                choice["token_ids"] = ids
            self._json({"id": "cmpl-1", "object": "text_completion", "choices": [choice],
                        "usage": {"prompt_tokens": len(body["prompt"]), "completion_tokens": len(ids)}})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        delay = float(os.environ.get("FAKE_TOKEN_DELAY", "0"))
        for k, i in enumerate(ids):
            time.sleep(delay)
            text = "" if os.environ.get("FAKE_EMPTY_TEXT") else f"t{i} "  # as special tokens stream
            chunk = {"choices": [{"index": 0, "text": text,
                                  "finish_reason": finish if k == len(ids) - 1 else None}]}
            self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())
        usage = {"choices": [], "usage": {"prompt_tokens": len(body["prompt"]), "completion_tokens": len(ids)}}
        self._chunk(f"data: {json.dumps(usage)}\n\n".encode())
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args, rest = parser.parse_known_args()
    print(f"fake server: model={args.model} extra={rest}", flush=True)
    print(f"fake server env: {os.environ.get('VLLM_CPU_OMP_THREADS_BIND')}", flush=True)
    mode = os.environ.get("FAKE_MODE", "ok")
    if mode == "crash":
        print("fake server: crashing as asked", flush=True)
        return 3
    pidfile = os.environ.get("FAKE_CHILD_PIDFILE")
    if pidfile:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1000)"])
        with open(pidfile, "w") as f:
            f.write(f"{os.getpid()} {child.pid}\n")
    time.sleep(float(os.environ.get("FAKE_READY_DELAY", "0")))
    if mode == "hang":
        time.sleep(1000)
    Handler.model = args.model
    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
