"""A fake OpenAI server, started through the real server manager, for the tests of the vLLM path."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

FAKE = str(Path(__file__).with_name("fake_openai_server.py"))


@pytest.fixture
def fake_server(tmp_path, monkeypatch):
    """Factory: ``fake_server(model="m", **env)`` -> (record, read_requests) of a running fake server."""
    from fastprune.engines.vllm_server import ServerOptions, VLLMServer

    servers = []

    def start(model: str = "fake-model", **env):
        log = tmp_path / f"requests{len(servers)}.jsonl"
        monkeypatch.setenv("FAKE_REQUEST_LOG", str(log))
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        options = ServerOptions(python=sys.executable, entrypoint=(FAKE,), startup_timeout=20)
        server = VLLMServer(model, options, tmp_path / f"server{len(servers)}.log").__enter__()
        servers.append(server)

        def requests():
            return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

        return server.record, requests

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def fake_vllm_python(tmp_path):
    """An executable that takes vLLM's exact command line (``-m vllm.entrypoints.openai.api_server ...``)
    and runs the fake server instead, so a CLI's --vllm-python start path runs end to end."""
    script = tmp_path / "fake-vllm-python"
    script.write_text(f'#!/bin/sh\n[ "$1" = "-m" ] && shift 2\nexec {sys.executable} {FAKE} "$@"\n')
    script.chmod(0o755)
    return str(script)
