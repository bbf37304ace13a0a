"""The server manager against a fake OpenAI server started the way vLLM is: readiness, log, stop, no orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fastprune.engines.vllm_server import (
    PYTHON_ENV,
    ServerOptions,
    VLLMServer,
    cpu_env,
    cpu_list,
    group_alive,
    resolve_python,
)
from fastprune.errors import FastpruneError

FAKE = str(Path(__file__).with_name("fake_openai_server.py"))


def fake_options(**kw) -> ServerOptions:
    return ServerOptions(python=sys.executable, entrypoint=(FAKE,), startup_timeout=kw.pop("timeout", 20), **kw)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _pids(pidfile: Path) -> tuple[int, int]:
    for _ in range(200):
        if pidfile.exists() and pidfile.read_text().strip():
            server, child = map(int, pidfile.read_text().split())
            return server, child
        time.sleep(0.05)
    raise AssertionError("the fake server never wrote its pids")


def test_start_ready_log_record_and_stop(tmp_path, monkeypatch):
    pidfile = tmp_path / "pids"
    monkeypatch.setenv("FAKE_CHILD_PIDFILE", str(pidfile))
    monkeypatch.setenv("FAKE_READY_DELAY", "0.5")
    log = tmp_path / "run" / "vllm.log"
    options = fake_options(extra_args=("--gpu-memory-utilization", "0.5"), tensor_parallel_size=2, cpus="0-1")
    with VLLMServer(tmp_path / "ckpt", options, log) as server:
        record = server.record
        assert record.mode == "started" and record.url.startswith("http://127.0.0.1:")
        assert record.model == str(tmp_path / "ckpt") and record.vllm_version == "0.0-fake"
        assert record.startup_seconds >= 0.5
        assert record.env["VLLM_CPU_OMP_THREADS_BIND"] == "0|1" and record.env["VLLM_CPU_KVCACHE_SPACE"] == "1"
        assert "--tensor-parallel-size" in record.command and record.command[-2:] == ["--gpu-memory-utilization",
                                                                                      "0.5"]
        pgid = server.process.pid
        server_pid, child_pid = _pids(pidfile)
        assert _alive(server_pid) and _alive(child_pid)
    assert not _alive(server_pid) and not _alive(child_pid) and not group_alive(pgid)
    text = log.read_text()
    # what the server printed, including the flags passed through and the CPU binding it got
    assert "'--tensor-parallel-size', '2'" in text and "--gpu-memory-utilization" in text
    assert "fake server env: 0|1" in text


def test_error_inside_the_block_still_kills_the_group(tmp_path, monkeypatch):
    pidfile = tmp_path / "pids"
    monkeypatch.setenv("FAKE_CHILD_PIDFILE", str(pidfile))
    with pytest.raises(RuntimeError, match="boom"), VLLMServer(tmp_path, fake_options(), tmp_path / "log"):
        server_pid, child_pid = _pids(pidfile)
        raise RuntimeError("boom")
    assert not _alive(server_pid) and not _alive(child_pid)


def test_server_that_crashes_names_the_log(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "crash")
    with pytest.raises(FastpruneError, match=r"(?s)exited with code 3 .*crashing as asked"):
        VLLMServer(tmp_path, fake_options(), tmp_path / "log").__enter__()


def test_startup_timeout_kills_the_server(tmp_path, monkeypatch):
    pidfile = tmp_path / "pids"
    monkeypatch.setenv("FAKE_MODE", "hang")
    monkeypatch.setenv("FAKE_CHILD_PIDFILE", str(pidfile))
    server = VLLMServer(tmp_path, fake_options(timeout=2), tmp_path / "log")
    with pytest.raises(FastpruneError, match="not ready after 2 s"):
        server.__enter__()
    server_pid, child_pid = _pids(pidfile)
    assert server.process is None and not _alive(server_pid) and not _alive(child_pid)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_of_fastprune_leaves_no_orphan(tmp_path, sig):
    """A separate fastprune-like process holds the server; interrupting it must take the server down too."""
    pidfile = tmp_path / "pids"
    script = tmp_path / "holder.py"
    # The default Ctrl-C handler, as in a shell's foreground job: a suite started in the background (`.ci/run &`)
    # hands its children SIGINT ignored, and Python then installs no KeyboardInterrupt handler at all.
    script.write_text(textwrap.dedent(f"""
        import signal, sys, time
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from fastprune.engines.vllm_server import ServerOptions, VLLMServer
        options = ServerOptions(python=sys.executable, entrypoint=({FAKE!r},), startup_timeout=20)
        with VLLMServer({str(tmp_path)!r}, options, {str(tmp_path / 'log')!r}):
            print("ready", flush=True)
            time.sleep(60)
    """))
    env = {**os.environ, "FAKE_CHILD_PIDFILE": str(pidfile), "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "ready"
        server_pid, child_pid = _pids(pidfile)
        holder.send_signal(sig)
        # stop()'s worst case is its 20 s grace and 10 s after SIGKILL: a 30 s wait failed under load in CI
        code = holder.wait(timeout=60)
    finally:
        holder.kill()
    assert code != 0
    assert not _alive(server_pid) and not _alive(child_pid)


def test_reuse_a_running_server_and_leave_it_running(tmp_path):
    with VLLMServer(tmp_path / "m", fake_options(), tmp_path / "log") as owner:
        url = owner.record.url
        with VLLMServer(None, ServerOptions(url=url + "/"), tmp_path / "unused.log") as reused:
            assert reused.record.mode == "reused" and reused.record.url == url and reused.process is None
            assert reused.record.model == str(tmp_path / "m")
        assert owner.process.poll() is None  # reusing never stops someone else's server
    assert not (tmp_path / "unused.log").exists()


def test_reuse_of_nothing_is_a_clear_error(tmp_path):
    from fastprune.engines.vllm_server import free_port

    with pytest.raises(FastpruneError, match="no server answers"):
        VLLMServer(None, ServerOptions(url=f"http://127.0.0.1:{free_port()}"), tmp_path / "l").__enter__()


def test_python_comes_from_option_or_env(monkeypatch, tmp_path):
    monkeypatch.delenv(PYTHON_ENV, raising=False)
    with pytest.raises(FastpruneError, match="--vllm-python"):
        resolve_python(None)
    monkeypatch.setenv(PYTHON_ENV, sys.executable)
    assert resolve_python(None) == sys.executable
    with pytest.raises(FastpruneError, match="no executable Python"):
        resolve_python(str(tmp_path / "nope"))


def test_cpu_binding_defaults_to_every_allowed_core():
    assert cpu_list("0-2,5") == [0, 1, 2, 5]
    env = cpu_env(ServerOptions(kv_cache_gib=2))
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == ",".join(map(str, sorted(os.sched_getaffinity(0))))
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "2"
    # one slice of cores per tensor-parallel rank
    assert cpu_env(ServerOptions(cpus="0-3", tensor_parallel_size=2))["VLLM_CPU_OMP_THREADS_BIND"] == "0,1|2,3"
    with pytest.raises(FastpruneError, match="at least 3 cores"):
        cpu_env(ServerOptions(cpus="0-1", tensor_parallel_size=3))
    with pytest.raises(FastpruneError, match="--vllm-cpus"):
        cpu_list("a-b")
    with pytest.raises(FastpruneError, match="whole number"):
        ServerOptions(kv_cache_gib=0.5).validate()
