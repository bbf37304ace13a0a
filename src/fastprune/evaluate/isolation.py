"""The namespace launcher: which OS sandbox works here, the command that starts a program in it, the kill.

Kinds, in order of preference:
- ``"bwrap"`` (bubblewrap, when installed): it makes the namespaces and the read-only root itself; as a
  normal user it maps the program to uid 65534 inside; as root it runs without a user namespace (so that
  root's binds reach a 0700 /root), and ``setpriv`` drops to uid 65534 before ``unshare --user`` makes one;
- ``"unshare"`` (util-linux, on every Linux): ``unshare`` makes fresh PID, network, mount and IPC
  namespaces (plus a user namespace when not run as root); ``sandbox_init.py`` builds the read-only root,
  drops to uid 65534 and enters an unprivileged user namespace;
- ``"none"``: the Python-level fence alone; only with ``--allow-unsandboxed-exec``.
``detect()`` runs one probe program through each available kind, once per process, and says what failed
and how to enable it.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

KINDS = ("bwrap", "unshare", "none")
UNPRIVILEGED_UID = 65534  # "nobody": owns nothing, so the program can read only world-readable files
INIT_SCRIPT = Path(__file__).with_name("sandbox_init.py")
INIT_INSIDE = "/.fastprune/sandbox_init.py"  # where bwrap binds it
# What the interpreter and its shared libraries need; the rest of the host filesystem stays invisible.
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/ld.so.cache")


@dataclass(frozen=True)
class Detection:
    kind: str  # "bwrap" or "unshare" when one works here, else "none"
    problem: str  # what failed ("" when it works)


_SYSTEM_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"


def unshare_binary() -> str | None:
    return shutil.which("unshare", path=_SYSTEM_PATH)


def bwrap_binary() -> str | None:
    return shutil.which("bwrap", path=_SYSTEM_PATH)


def read_only_paths() -> list[str]:
    """The host paths bound read-only into the program's root, parents first, nested ones left out."""
    wanted = {*SYSTEM_PATHS, sys.prefix, sys.base_prefix,
              os.path.dirname(os.path.realpath(sys.executable))}
    out: list[str] = []
    for path in sorted(os.path.normpath(p) for p in wanted):
        if not any(path.startswith(p.rstrip("/") + "/") for p in out if not os.path.islink(p)):
            out.append(path)
    return out


def command(kind: str, config: dict) -> list[str]:
    """argv that runs ``sandbox_init.py`` with ``config`` in the sandbox ``kind``."""
    python = [sys.executable, "-I", "-S", str(INIT_SCRIPT)]
    if kind == "none":
        return [*python, json.dumps({**config, "isolate": False})]
    if kind == "bwrap":
        return _bwrap_command(config)
    if kind != "unshare":
        raise ValueError(f"unknown sandbox kind {kind!r}")
    binary = unshare_binary() or "unshare"
    as_root = os.geteuid() == 0
    # As root, namespaces come without a user namespace first (root's bind mounts reach a 0700 /root);
    # sandbox_init drops to the unprivileged uid and only then makes the user namespace.
    userns = [] if as_root else ["--user", "--map-root-user"]
    cfg = {**config, "isolate": True, "in_userns": not as_root, "uid": UNPRIVILEGED_UID,
           "read_only": read_only_paths()}
    return [binary, *userns, "--pid", "--fork", "--kill-child", "--net", "--mount", "--ipc", "--uts",
            "--propagation", "private", "--", *python, json.dumps(cfg)]


def _bwrap_command(config: dict) -> list[str]:
    size = str(config["tmpfs_mb"] << 20)
    argv = [bwrap_binary() or "bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--die-with-parent", "--new-session", "--as-pid-1"]
    made: set[str] = set()
    for path in read_only_paths():
        for parent in Path(path).parents:  # bwrap would make them 0700, closed to the unprivileged uid
            if str(parent) != "/" and str(parent) not in made:
                made.add(str(parent))
                argv += ["--perms", "0755", "--dir", str(parent)]
        argv += ["--symlink", os.readlink(path), path] if os.path.islink(path) else ["--ro-bind-try", path, path]
    argv += ["--dev", "/dev", "--proc", "/proc"]
    for path in ("/tmp", "/dev/shm", "/sandbox"):  # made by bwrap's root: 1777 lets the program write
        argv += ["--perms", "1777", "--size", size, "--tmpfs", path]
    argv += ["--ro-bind", config["solution"], "/sandbox/solution.py", "--perms", "0755", "--dir",
             os.path.dirname(INIT_INSIDE), "--ro-bind", str(INIT_SCRIPT), INIT_INSIDE,
             "--remount-ro", "/", "--chdir", "/sandbox"]
    uid = str(UNPRIVILEGED_UID)
    if os.geteuid() == 0:
        argv += ["--", "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                 "--bounding-set=-all", "--no-new-privs", "--", "unshare", "--user", f"--map-user={uid}",
                 f"--map-group={uid}"]
    else:
        argv += ["--unshare-user", "--uid", uid, "--gid", uid, "--cap-drop", "ALL"]
    cfg = {**config, "isolate": False, "solution": "/sandbox/solution.py"}
    return [*argv, "--", sys.executable, "-I", "-S", INIT_INSIDE, json.dumps(cfg)]


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (a /proc scan: the kernel's ``children`` file is optional)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def kill(kind: str, pid: int) -> None:
    """End the program started by ``command(kind, ...)`` as process ``pid`` and all it started."""
    if kind == "none":  # its session: all the fence alone can reach (setsid children escape it)
        with _quiet():
            os.killpg(pid, signal.SIGKILL)
    else:
        kill_namespace(pid)


def kill_namespace(pid: int) -> None:
    """SIGKILL PID 1 of the namespace, the child of ``unshare`` (``pid``): the kernel then kills every
    process left in it, double-forked and ``setsid`` ones included, and ``unshare`` exits only once they
    are all gone, so waiting for ``pid`` afterwards means the namespace is empty. ``unshare`` itself is
    killed only when it has no child (yet): then nothing ran."""
    children = _children(pid)
    for child in children:
        with _quiet():
            os.kill(child, signal.SIGKILL)
    if not children:
        with _quiet():
            os.killpg(pid, signal.SIGKILL)
        with _quiet():
            os.kill(pid, signal.SIGKILL)


class _quiet:
    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        return kind is not None and issubclass(kind, (ProcessLookupError, PermissionError))


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def how_to_enable() -> str:
    """Hints from this machine's settings that forbid namespaces, most specific first."""
    hints = []
    if unshare_binary() is None:
        hints.append("install util-linux (it provides 'unshare')")
    if _read_int("/proc/sys/user/max_user_namespaces") == 0:
        hints.append("sysctl -w user.max_user_namespaces=15000")
    if _read_int("/proc/sys/kernel/unprivileged_userns_clone") == 0:
        hints.append("sysctl -w kernel.unprivileged_userns_clone=1")
    if _read_int("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1:
        hints.append("sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile "
                     "that allows user namespaces for this python)")
    hints.append("in a container, allow unshare/mount/setns (e.g. docker --security-opt seccomp=unconfined "
                 "--security-opt apparmor=unconfined, or a seccomp profile permitting CLONE_NEWUSER)")
    return "; ".join(hints)


PROBE = (
    "import os\n"
    "assert os.getuid() != 0 and os.geteuid() != 0, 'root inside'\n"
    "assert os.getpid() <= 2, 'not in a fresh PID namespace'\n"
    "assert not os.path.exists({host!r}), 'host files visible'\n"
    "assert {user!r} or open('/proc/self/uid_map').read().split()[1] != '0', 'root outside'\n"
)


def probe(kind: str) -> str:
    """"" when a probe program runs in the sandbox ``kind`` as it should, else what went wrong."""
    from fastprune.evaluate.sandbox import SandboxSetupError, run_program

    code = PROBE.format(host=str(INIT_SCRIPT), user=os.geteuid() != 0)
    try:
        r = run_program(code, timeout=20, kind=kind)
    except SandboxSetupError as exc:
        return str(exc)
    return "" if r.passed else f"the probe program failed in the {kind} sandbox ({r.error})"


@functools.cache
def detect() -> Detection:
    """The first kind that works here (bwrap if installed, then unshare), by probe; cached per process."""
    problems = []
    for kind, binary in (("bwrap", bwrap_binary()), ("unshare", unshare_binary())):
        if binary is None:
            if kind == "unshare":
                problems.append("util-linux 'unshare' not found on PATH")
            continue
        problem = probe(kind)
        if not problem:
            return Detection(kind, "")
        problems.append(problem)
    return Detection("none", f"{'; '.join(problems)}. To enable: {how_to_enable()}")
