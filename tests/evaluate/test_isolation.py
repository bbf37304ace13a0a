import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from fastprune.errors import FastpruneError
from fastprune.evaluate import isolation, sandbox
from fastprune.evaluate.isolation import Detection

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def fresh_detection(monkeypatch):
    real = isolation.detect
    real.cache_clear()
    monkeypatch.setattr(sandbox, "_warned", False)
    yield
    real.cache_clear()


OS_KINDS = ["unshare", *(["bwrap"] if shutil.which("bwrap") else [])]


def test_the_os_sandbox_works_on_this_machine():
    # CI and a fresh machine have util-linux only: unshare must work there; bwrap is preferred if installed
    assert isolation.probe("unshare") == ""
    want = "bwrap" if isolation.bwrap_binary() else "unshare"
    assert isolation.detect() == Detection(want, "")
    assert sandbox.require_sandbox() == want


def test_a_broken_bwrap_falls_back_to_unshare(fresh_detection, monkeypatch):
    monkeypatch.setattr(isolation, "bwrap_binary", lambda: shutil.which("false"))
    assert isolation.detect() == Detection("unshare", "")


def test_read_only_paths_cover_the_interpreter_once():
    paths = isolation.read_only_paths()
    assert "/usr" in paths and sys.base_prefix in paths or sys.base_prefix.startswith("/usr/")
    assert len(paths) == len(set(paths)) and paths == sorted(paths)
    for p in paths:  # nothing bound twice: no path lies under another bound directory
        assert not any(p.startswith(q + "/") for q in paths if q != p and not os.path.islink(q)), p


def test_missing_unshare_is_named_with_the_fix(fresh_detection, monkeypatch):
    monkeypatch.setattr(isolation, "unshare_binary", lambda: None)
    monkeypatch.setattr(isolation, "bwrap_binary", lambda: None)
    found = isolation.detect()
    assert found.kind == "none" and "'unshare' not found" in found.problem and "util-linux" in found.problem
    with pytest.raises(FastpruneError, match="refusing to run model-written code.*--allow-unsandboxed-exec"):
        sandbox.require_sandbox()
    with pytest.raises(FastpruneError, match="refusing"):
        sandbox.run_program("pass")  # the default kind never silently falls back


def test_a_sandbox_that_cannot_start_is_detected(fresh_detection, monkeypatch):
    # stands in for a kernel or container that refuses the namespaces: the launcher exits before setup
    monkeypatch.setattr(isolation, "unshare_binary", lambda: shutil.which("false"))
    monkeypatch.setattr(isolation, "bwrap_binary", lambda: shutil.which("false"))
    found = isolation.detect()
    assert found.kind == "none" and "could not start a program" in found.problem
    assert "docker --security-opt" in found.problem


def test_hints_name_the_setting_that_forbids_namespaces(monkeypatch):
    values = {"/proc/sys/user/max_user_namespaces": 0,
              "/proc/sys/kernel/apparmor_restrict_unprivileged_userns": 1,
              "/proc/sys/kernel/unprivileged_userns_clone": 0}
    monkeypatch.setattr(isolation, "_read_int", values.get)
    hints = isolation.how_to_enable()
    assert "user.max_user_namespaces" in hints and "kernel.apparmor_restrict_unprivileged_userns=0" in hints
    assert "kernel.unprivileged_userns_clone=1" in hints


def test_allowed_fallback_warns_once_and_records_none(fresh_detection, monkeypatch):
    monkeypatch.setattr(isolation, "detect", lambda: Detection("none", "unshare(CLONE_NEWUSER): EPERM"))
    said = []
    assert sandbox.require_sandbox(True, log=said.append) == "none"
    assert sandbox.require_sandbox(True, log=said.append) == "none"
    assert len(said) == 1 and "WITHOUT an OS sandbox" in said[0] and "EPERM" in said[0]
    r = sandbox.run_programs(["assert 1 + 1 == 2", "import os\nos.fork()"], timeout=5, allow_unsandboxed=True)
    assert [x.sandbox for x in r] == ["none", "none"] and r[0].passed
    assert "blocked by the fastprune sandbox" in r[1].error  # the Python-level fence still stands


def test_kill_namespace_waits_out_the_whole_namespace():
    proc = subprocess.Popen(["unshare", "--pid", "--fork", "--", "sh", "-c", "setsid sleep 60 & sleep 60"],
                            start_new_session=True)
    time.sleep(0.3)
    init = isolation._children(proc.pid)
    assert len(init) == 1
    isolation.kill("unshare", proc.pid)
    proc.wait(timeout=10)  # unshare reports a SIGKILLed child as exit status 1
    assert isolation._children(init[0]) == [] and not Path(f"/proc/{init[0]}").exists()


def test_kill_without_namespace_ends_the_session():
    proc = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60"], start_new_session=True)
    isolation.kill("none", proc.pid)
    assert proc.wait(timeout=5) == -9


@pytest.mark.skipif(os.geteuid() != 0 or not os.access("/usr/bin/python3", os.X_OK),
                    reason="needs root (to become a normal user) and a system python")
@pytest.mark.parametrize("kind", OS_KINDS)
def test_as_a_normal_user_the_program_is_not_root_inside(kind):
    # the other launch path: the sandbox makes the user namespace; the program is uid 65534 inside
    with tempfile.TemporaryDirectory(dir="/tmp") as where:  # pytest's tmp_path is 0700 root's
        _run_as_normal_user(Path(where), kind)


def _run_as_normal_user(where: Path, kind: str) -> None:
    driver = where / "driver.py"
    driver.write_text(
        f"import sys\nsys.path.insert(0, {str(SRC)!r})\nimport json\n"
        "from fastprune.evaluate.sandbox import run_program\n"
        "code = \"import os\\nraise ValueError(open('/proc/self/uid_map').read().split())\"\n"
        f"r = run_program(code, timeout=10, kind={kind!r})\n"
        "print(json.dumps([r.sandbox, r.error]))\n")
    where.chmod(0o755)
    driver.chmod(0o644)
    out = subprocess.run(["setpriv", "--reuid=4242", "--regid=4242", "--clear-groups", "/usr/bin/python3",
                          "-I", str(driver)], capture_output=True, text=True, timeout=60, cwd="/")
    if out.returncode != 0 and "Permission denied" in out.stderr:
        pytest.skip("the checkout is not readable by another user here")
    assert out.returncode == 0, out.stderr
    ran_in, error = json.loads(out.stdout)
    assert ran_in == kind and "['65534', '0', '1']" in error, error  # 65534 inside, the user outside


def test_a_launcher_that_cannot_be_executed_is_a_setup_error(fresh_detection, monkeypatch):
    monkeypatch.setattr(isolation, "bwrap_binary", lambda: None)
    monkeypatch.setattr(isolation, "unshare_binary", lambda: "/nonexistent/unshare")
    with pytest.raises(sandbox.SandboxSetupError, match="could not start"):
        sandbox.run_program("pass", kind="unshare")
    assert isolation.detect().kind == "none"
