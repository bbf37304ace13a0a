import json
import os
import subprocess
import sys

import pytest
import torch

from fastprune import threads
from fastprune.cli import main
from fastprune.errors import FastpruneError
from fastprune.ops import native


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    threads.apply_threads(before)


def _native_or_skip():
    if not native.availability("cpu"):
        pytest.skip(native.availability("cpu").reason)
    return native.require("cpu")


def _fresh(args, env_drop=("OMP_NUM_THREADS", "OMP_WAIT_POLICY"), **env):
    """`python -m fastprune ARGS` in a new process (a fresh OpenMP runtime), its env JSON or the result."""
    full = {k: v for k, v in os.environ.items() if k not in env_drop}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "fastprune", *args], capture_output=True, text=True, env=full)


@pytest.mark.parametrize("value, expected", [(None, None), ("auto", None), ("", None), ("1", 1), (" 3 ", 3), (2, 2)])
def test_parse_threads_accepts_positive_integers_and_auto(value, expected):
    assert threads.parse_threads(value) == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", 0, True])
def test_parse_threads_rejects_the_rest_naming_the_option(value):
    with pytest.raises(FastpruneError, match="--threads must be a positive integer"):
        threads.parse_threads(value)


@pytest.mark.parametrize("cores, others, expected", [
    (2, 0, 2), (2, 1, 1), (2, 2, 1), (2, 16, 1), (16, 3, 13), (16, 0, 16), (1, 0, 1),
])
def test_auto_threads_leaves_the_busy_cores_to_their_owners(cores, others, expected):
    assert threads.auto_threads(cores=cores, others=others) == expected


def test_runnable_others_reads_the_instantaneous_count_without_the_reader(tmp_path):
    fake = tmp_path / "loadavg"
    fake.write_text("15.43 17.29 14.58 4/185 3498\n")
    assert threads.runnable_others(samples=3, interval_s=0, path=fake) == 3
    fake.write_text("0.00 0.00 0.00 1/90 12\n")
    assert threads.runnable_others(samples=1, path=fake) == 0
    assert threads.runnable_others(path=tmp_path / "absent") == 0
    assert threads.runnable_others(samples=2, interval_s=0) >= 0


def test_cgroup_quota_caps_the_usable_cores(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert threads._cgroup_cpu_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads._cgroup_cpu_quota(tmp_path) is None
    assert threads._cgroup_cpu_quota(tmp_path / "absent") is None
    assert 1 <= threads.usable_cores() <= (os.cpu_count() or 1)


def test_resolution_order_request_then_env_then_auto(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.resolve_threads(2) == (2, "requested")
    assert threads.resolve_threads(None) == (3, "OMP_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "zero")
    with pytest.raises(FastpruneError, match="OMP_NUM_THREADS"):
        threads.resolve_threads(None)
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert threads.resolve_threads(None) == (threads.auto_threads(), "auto")


def test_prepare_openmp_sets_a_passive_wait_but_keeps_the_users(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    threads.prepare_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    threads.prepare_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


@pytest.mark.parametrize("n", [1, 2, 1])
def test_apply_threads_reaches_torch_and_the_native_pool(n, restore_threads):
    module = _native_or_skip()
    assert threads.apply_threads(n) == n
    assert torch.get_num_threads() == n
    assert module.num_threads() == n
    state = threads.thread_state()
    assert state["torch"] == state["native"] == n
    assert state["applied"] == {"threads": n, "source": "requested"}


def test_native_kernels_share_torchs_openmp_runtime():
    """One runtime, one pool: torch's bundled libgomp serves the native kernels too."""
    module = _native_or_skip()
    runtimes = threads.openmp_runtimes()
    assert module.openmp_runtime() in runtimes
    assert len(runtimes) == 1, runtimes


def test_cli_threads_before_or_after_the_command(capsys, restore_threads):
    _native_or_skip()
    assert main(["--threads", "1", "env", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["cpu_threads"] == info["threads"]["native"] == 1
    assert main(["env", "--json", "--threads", "2"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["cpu_threads"] == info["threads"]["native"] == 2


@pytest.mark.parametrize("value", ["0", "many"])
def test_cli_bad_threads_is_one_error_line_and_exit_2(value, capsys):
    assert main(["--threads", value, "env"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --threads must be a positive integer"), err


def test_fresh_process_defaults_to_auto_threads_and_a_passive_wait():
    out = _fresh(["env", "--json"])
    assert out.returncode == 0, out.stderr
    state = json.loads(out.stdout)["threads"]
    assert state["applied"]["source"] == "auto"
    assert state["torch"] == state["applied"]["threads"]
    assert 1 <= state["torch"] <= state["usable_cores"]
    assert state["wait_policy"] == "PASSIVE"
    if state["native"] is not None:
        assert state["native"] == state["torch"]


def test_fresh_process_keeps_the_users_environment():
    out = _fresh(["env", "--json"], OMP_NUM_THREADS="1", OMP_WAIT_POLICY="ACTIVE")
    assert out.returncode == 0, out.stderr
    state = json.loads(out.stdout)["threads"]
    assert state["applied"] == {"threads": 1, "source": "OMP_NUM_THREADS"}
    assert state["wait_policy"] == "ACTIVE"
    out = _fresh(["--threads", "2", "env", "--json"], OMP_NUM_THREADS="1")
    assert json.loads(out.stdout)["threads"]["applied"] == {"threads": 2, "source": "requested"}


def _drop_volatile(record):
    """A result file without what records when and how it ran (provenance, timings)."""
    if isinstance(record, dict):
        return {k: _drop_volatile(v) for k, v in record.items()
                if k not in ("provenance", "time_utc", "timings", "seconds", "wall_s", "elapsed_s", "threads")}
    if isinstance(record, list):
        return [_drop_volatile(v) for v in record]
    return record


def test_results_are_bitwise_unchanged_by_threads(tmp_path, capsys, restore_threads):
    """--threads changes speed only: the same calibration numbers and generated rows at 1 and 2 threads."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"Line {i}: the quick brown fox jumps over {i * 7} lazy dogs.\n" for i in range(40)))
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"count to {i}"}) + "\n" for i in range(5)))
    got = {}
    for n in ("1", "2"):
        cal, gen = tmp_path / f"cal{n}", tmp_path / f"gen{n}.jsonl"
        assert main(["--threads", n, "calibrate", "tiny:llama:3", "--data", str(corpus), "--out", str(cal),
                     "--seq-len", "32", "--batch-size", "2", "--max-tokens", "256", "--no-progress"]) == 0
        assert torch.get_num_threads() == int(n)
        assert main(["generate", "tiny:llama:3", "--threads", n, "--prompts", str(prompts), "--field", "prompt",
                     "--out", str(gen), "--max-new-tokens", "6", "--batch-size", "2", "--no-progress"]) == 0
        got[n] = (_drop_volatile(json.loads((cal / "importance.json").read_text())), gen.read_text())
    capsys.readouterr()
    assert got["1"][0] == got["2"][0]
    assert got["1"][1] == got["2"][1] and got["1"][1].count("\n") == 5


@pytest.mark.embedded
def test_embedded_engine_tokens_equal_at_one_and_two_threads(embedded, restore_threads):
    from fastprune.engines import GenerationEngine, GenerationRequest, SamplingParams

    engine = GenerationEngine(embedded, max_batch_size=4, max_seq_len=96)
    prompts = [engine.encode_prompt(q) for q in ("Why is the sky blue?", "What is 12 times 7?")]
    out = {}
    for n in (1, 2):
        threads.apply_threads(n)
        reqs = [GenerationRequest(p, SamplingParams(max_new_tokens=12, temperature=0.9 * (i % 2), top_p=0.95,
                                                    seed=i)) for i, p in enumerate(prompts * 2)]
        out[n] = [r.token_ids for r in engine.generate(reqs)]
    assert out[1] == out[2]


def test_importing_fastprune_first_sets_the_wait_policy_for_the_runtime():
    code = "import os, fastprune, torch; print(os.environ.get('OMP_WAIT_POLICY'))"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "PASSIVE", out.stderr
