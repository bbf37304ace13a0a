"""Hostile programs against the real sandbox (real subprocesses, real namespaces).

Each case asserts the verdict and that nothing the program tried is observable afterwards from here.
Targets live in pytest's tmp_path (never the real home): if the sandbox were broken, the damage would be
to throwaway files.
"""

import shutil
import socket
import stat
import threading
import time
import uuid
from pathlib import Path

import pytest

from fastprune.evaluate.sandbox import run_program

REPO = Path(__file__).resolve().parents[2]
LIBC = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
# the unshare path must pass everywhere (CI has util-linux only); bwrap's wherever it is installed
OS_KINDS = ["unshare", *(["bwrap"] if shutil.which("bwrap") else [])]


@pytest.fixture(params=OS_KINDS)
def kind(request):
    return request.param


def _processes_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _marker() -> str:
    return "fp" + uuid.uuid4().hex[:12]  # comm holds 15 characters


@pytest.fixture
def victims(tmp_path):
    home = tmp_path / "home"
    (home / "docs").mkdir(parents=True)
    (home / "docs" / "thesis.txt").write_text("years of work")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    victim.chmod(0o644)
    return home, victim


def _unchanged(home: Path, victim: Path) -> None:
    assert (home / "docs" / "thesis.txt").read_text() == "years of work"
    assert victim.read_text() == "keep me" and stat.S_IMODE(victim.stat().st_mode) == 0o644


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("write", "open({new!r}, 'w').write('pwned')"),
        ("delete", "import os\nos.remove({victim!r})"),
        ("rmtree", "import shutil\nshutil.rmtree({home!r})"),
        ("chmod", "import os\nos.chmod({victim!r}, 0o777)"),
        ("symlink", "import os\nos.symlink('/etc/passwd', {new!r})"),
        ("rename", "import os\nos.rename({victim!r}, {new!r})"),
        ("ctypes_unlink", LIBC + "assert libc.unlink({victim!r}.encode()) == 0, ctypes.get_errno()"),
    ],
)
def test_writes_outside_the_sandbox_fail_and_leave_no_trace(tmp_path, victims, name, code, kind):
    home, victim = victims
    new = tmp_path / "new_entry"
    r = run_program(code.format(new=str(new), victim=str(victim), home=str(home)), timeout=10, kind=kind)
    assert not r.passed and r.category in ("other", "assertion"), r
    _unchanged(home, victim)
    assert not new.exists() and not new.is_symlink()


@pytest.mark.parametrize(
    "path",
    [REPO / "pyproject.toml", REPO / "src" / "fastprune" / "evaluate" / "sandbox.py", "/etc/shadow",
     "/etc/passwd", "/root/.bashrc", Path.home() / ".bash_history", Path.home() / ".ssh"],
)
def test_files_outside_cannot_be_read(path, kind):
    code = (f"import os\np = {str(path)!r}\n"
            "data = os.listdir(p) if os.path.isdir(p) else open(p, 'rb').read()\n"
            "raise SystemExit(0)\n")
    r = run_program(code, timeout=10, kind=kind)
    assert not r.passed and ("FileNotFoundError" in r.error or "PermissionError" in r.error), r


def test_home_shows_at_most_the_way_to_the_interpreter(kind):
    # /root is 0700 and holds pyenv's python: the sandbox's root has a bare path to it, nothing else
    code = (f"import os, sys\nhome = {str(Path.home())!r}\n"
            "names = os.listdir(home) if os.path.isdir(home) else []\n"
            "ways = [p for p in (sys.prefix, sys.base_prefix) if p.startswith(home + '/')]\n"
            "assert all(any(w.startswith(os.path.join(home, n) + '/') or w == os.path.join(home, n) "
            "for w in ways) for n in names), names\n")
    r = run_program(code, timeout=10, kind=kind)
    assert r.passed, r.error


def test_the_interpreter_view_is_read_only(kind):
    code = ("import os, sys\nfor p in (sys.prefix, sys.base_prefix, '/usr/lib', '/'):\n"
            "    try:\n        open(os.path.join(p, 'pwned'), 'w')\n    except OSError:\n        continue\n"
            "    raise SystemExit('wrote into ' + p)\n"
            "for p in ('/tmp/x', '/dev/shm/x', '/sandbox/x'):\n    open(p, 'w').write('private scratch')\n")
    r = run_program(code, timeout=10, kind=kind)
    assert r.passed, r.error
    assert not Path("/tmp/x").exists() or Path("/tmp/x").read_text() != "private scratch"


@pytest.fixture
def listener():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.5)
    yield server
    server.close()


def _no_connection(server) -> bool:
    try:
        conn, _ = server.accept()
    except TimeoutError:
        return True
    conn.close()
    return False


@pytest.mark.parametrize(
    "code",
    [
        "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)\n",
        "import sys\ndel sys.modules['_socket']\nimport _socket\n"
        "s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)\ns.settimeout(3)\n"
        "s.connect(('127.0.0.1', {port}))\n",
        LIBC + "import struct\nfd = libc.socket(2, 1, 0)\nassert fd >= 0, ctypes.get_errno()\n"
        "addr = struct.pack('<H', 2) + struct.pack('!H', {port}) + bytes([127, 0, 0, 1]) + bytes(8)\n"
        "if libc.connect(fd, addr, 16) != 0:\n    raise OSError(ctypes.get_errno(), 'connect failed')\n",
    ],
    ids=["socket", "reimported_socket", "ctypes_connect"],
)
def test_network_is_unreachable(listener, code, kind):
    r = run_program(code.format(port=listener.getsockname()[1]), timeout=10, kind=kind)
    assert not r.passed and r.category == "other", r
    assert _no_connection(listener)


def test_only_a_loopback_exists_and_it_is_down(kind):
    code = ("import fcntl, socket, struct, sys\nnames = [name for _, name in socket.if_nameindex()]\n"
            "assert names == ['lo'], names\ndel sys.modules['_socket']\nimport _socket\n"
            "s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)\n"
            "req = fcntl.ioctl(s.fileno(), 0x8913, struct.pack('16sH14s', b'lo', 0, bytes(14)))\n"  # SIOCGIFFLAGS
            "assert struct.unpack('16sH14s', req)[1] & 1 == 0, 'lo is up'\n")
    r = run_program(code, timeout=10, kind=kind)
    assert r.passed, r.error


_LATE_CHILD = LIBC + (
    "import time\n"
    "if libc.fork() == 0:\n"
    "    libc.setsid()\n"
    "    if libc.fork() == 0:\n"  # double fork: reparented, in its own session
    "        libc.prctl(15, {marker!r}.encode(), 0, 0, 0)\n"
    "        time.sleep(2.0)\n"
    "        open({late!r}, 'w').write('outlived the sandbox')\n"
    "    libc._exit(0)\n"
)


@pytest.mark.parametrize(("tail", "category"), [("", "passed"), ("time.sleep(60)\n", "timeout")],
                         ids=["parent_exits", "parent_times_out"])
def test_setsid_double_forked_children_die_with_the_namespace(tmp_path, tail, category, kind):
    marker, late = _marker(), tmp_path / "late.txt"
    r = run_program(_LATE_CHILD.format(marker=marker, late=str(late)) + tail, timeout=1.5, kind=kind)
    assert r.category == category, r
    assert _processes_named(marker) == []
    time.sleep(2.5)  # past the child's delay
    assert not late.exists() and _processes_named(marker) == []


def test_fork_bomb_is_contained(kind):
    marker = _marker()
    code = LIBC + f"libc.prctl(15, {marker!r}.encode(), 0, 0, 0)\nwhile True:\n    libc.fork()\n"
    start = time.monotonic()
    r = run_program(code, timeout=2, kind=kind)
    assert r.category == "timeout" and time.monotonic() - start < 15
    assert _processes_named(marker) == []


def test_twenty_gigabytes_are_refused(kind):
    r = run_program("x = bytearray(20 * 1024 ** 3)\n", timeout=10, kind=kind)
    assert not r.passed and "MemoryError" in r.error


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_print_flood_is_contained(stream, kind):
    r = run_program(f"import sys\nwhile True:\n    sys.{stream}.write('x' * 100000)\n", timeout=2, kind=kind)
    assert not r.passed and r.category in ("timeout", "other") and len(r.error) < 400


def test_infinite_loop_is_killed(kind):
    start = time.monotonic()
    r = run_program("while True:\n    pass\n", timeout=1, kind=kind)
    assert r.category == "timeout" and time.monotonic() - start < 10


def test_parent_environment_secrets_are_invisible(monkeypatch, kind):
    secret = "s3cret-" + uuid.uuid4().hex
    monkeypatch.setenv("FASTPRUNE_TEST_SECRET", secret)
    leak = ("import os, sys\nseen = repr(dict(os.environ))\n"
            "for p in os.listdir('/proc'):\n    if p.isdigit():\n"
            "        seen += open(f'/proc/{p}/environ', 'rb').read().decode(errors='replace')\n"
            "raise ValueError(seen)\n")
    r = run_program(leak, timeout=10, kind=kind)
    assert r.category == "other" and secret not in r.error and "FASTPRUNE_TEST_SECRET" not in r.error
    assert run_program(f"import os\nassert {secret!r} not in repr(os.environ)\n", timeout=10, kind=kind).passed


def test_program_is_unprivileged_inside_and_outside(kind):
    marker = _marker()
    code = LIBC + (f"libc.prctl(15, {marker!r}.encode(), 0, 0, 0)\nimport os, time\n"
                   "assert os.getuid() != 0 and os.geteuid() != 0 and os.getpid() <= 2\n"
                   "assert max(int(p) for p in os.listdir('/proc') if p.isdigit()) < 50\ntime.sleep(3)\n")
    seen: list[str] = []

    def watch():
        for _ in range(100):
            for pid in _processes_named(marker):
                status = Path(f"/proc/{pid}/status").read_text()
                seen.extend(line for line in status.splitlines()
                            if line.startswith(("Uid:", "Gid:", "CapEff:", "CapPrm:", "NoNewPrivs:")))
                return
            time.sleep(0.05)

    t = threading.Thread(target=watch)
    t.start()
    r = run_program(code, timeout=10, kind=kind)
    t.join()
    assert r.passed, r.error
    ids = [line for line in seen if line.startswith(("Uid:", "Gid:"))]
    assert len(ids) == 2 and all(int(v) != 0 for line in ids for v in line.split()[1:]), seen
    assert "CapEff:\t0000000000000000" in seen and "CapPrm:\t0000000000000000" in seen, seen
    assert "NoNewPrivs:\t1" in seen, seen


def test_namespace_init_is_gone_after_a_normal_exit(kind):
    marker = _marker()
    r = run_program(LIBC + f"libc.prctl(15, {marker!r}.encode(), 0, 0, 0)\n", timeout=10, kind=kind)
    assert r.passed and _processes_named(marker) == []
