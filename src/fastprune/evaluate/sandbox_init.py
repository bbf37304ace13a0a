"""The in-sandbox half of the launcher: build the program's root, drop privileges, fence, run the program.

Run as ``python -I -S sandbox_init.py CONFIG_JSON`` (see ``isolation.py``). With ``"isolate": true`` it is
PID 1 of fresh PID, network, mount and IPC namespaces made by util-linux ``unshare`` (as a normal user
also a user namespace in which it is root; as real root no user namespace yet). Standard library only:
it runs as a script, before the package could be imported, and the package is not visible afterwards.

Isolated steps, in order (each names itself in the error it reports):
1. a tmpfs as the new root holding read-only recursive binds of exactly what the interpreter needs
   (its prefixes, /usr, /lib*, /bin, ld.so.cache), a minimal /dev, the new PID namespace's /proc, and
   size-limited private tmpfs mounts for /sandbox (cwd and HOME, holding solution.py), /tmp, /dev/shm;
2. as real root: drop to the unprivileged uid/gid outside (setresuid), since root outside must never run
   model code; then a new user namespace in which that uid is the only one mapped, so the program is
   neither root inside nor outside; chroot into the new root (a chrooted process cannot make further
   user namespaces);
3. no capabilities (bounding, ambient, effective, permitted), no_new_privs, parent-death SIGKILL.
With ``"isolate": false`` (inside bwrap, which built the sandbox itself, or kind ``"none"``) only the
fence below runs. Setup success or the failing step goes over the status pipe, closed before the program starts, so a
program cannot forge the launcher's verdict. Then, isolated or not, the second layer of today's fence:
rlimits (address space, CPU seconds, file size, processes) and the fork/exec/socket entry points of
``os``/``posix``/``subprocess``/``socket`` removed; the program runs as ``__main__`` from solution.py.
"""

import contextlib
import json
import os
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
CLONE_NEWUSER = 0x10000000
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 1, 2, 4
SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE = 442, -100, 0x8000  # 442 on every Linux architecture
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
DEVICES = ("null", "zero", "full", "random", "urandom")
SETUP_FAILED = 125  # exit status when setup fails; the status pipe carries the reason

ctypes = _libc = _MountAttr = None  # loaded by _load_native: the fence-only mode needs no ctypes


def _load_native() -> None:
    global ctypes, _libc, _MountAttr
    import ctypes

    _libc = ctypes.CDLL(None, use_errno=True)
    _libc.syscall.restype = ctypes.c_long

    class _MountAttr(ctypes.Structure):
        _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                    ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None) -> None:
    enc = (lambda s: None if s is None else s.encode())
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {source or ''} on {target}")


def _bind_read_only(source: str, target: str) -> None:
    _mount(source, target, None, MS_BIND | MS_REC)
    attr = _MountAttr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0, 0, 0)
    ret = _libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), target.encode(),
                        ctypes.c_uint(AT_RECURSIVE), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
    if ret != 0:  # kernels before 5.12: the top mount only, keeping the flags a user namespace locks
        flags = os.statvfs(target).f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC)
        _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | flags)


def _touch(path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a"):
        pass


def build_root(cfg: dict) -> None:
    root = cfg["root"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for path in cfg["read_only"]:  # parents before children; what is missing here is simply absent there
        target = root + path
        if os.path.islink(path):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(os.readlink(path), target)
        elif os.path.isdir(path):
            os.makedirs(target, exist_ok=True)
            _bind_read_only(path, target)
        elif os.path.isfile(path):
            _touch(target)
            _bind_read_only(path, target)
    dev = root + "/dev"
    os.makedirs(dev, exist_ok=True)
    _mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755")
    for name in DEVICES:
        _touch(f"{dev}/{name}")
        _mount(f"/dev/{name}", f"{dev}/{name}", None, MS_BIND)
    for i, name in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"{dev}/{name}")
    os.symlink("/proc/self/fd", f"{dev}/fd")
    size = f"size={cfg['tmpfs_mb']}m"
    for path, mode in (("/dev/shm", "1777"), ("/tmp", "1777"), ("/sandbox", "0755")):
        os.makedirs(root + path, exist_ok=True)
        _mount("tmpfs", root + path, "tmpfs", MS_NOSUID | MS_NODEV, f"{size},mode={mode}")
    os.makedirs(root + "/proc", exist_ok=True)
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    with open(cfg["solution"], "rb") as src, open(root + "/sandbox/solution.py", "wb") as dst:
        dst.write(src.read())
    if os.getuid() == 0 and not cfg["in_userns"]:  # real root: the files belong to the program's uid
        os.chown(root + "/sandbox", cfg["uid"], cfg["uid"])
        os.chown(root + "/sandbox/solution.py", cfg["uid"], cfg["uid"])
    _mount(None, dev, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
    _mount(None, root, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir(root)  # chroot(".") later: the unprivileged uid may not be able to walk the host path


def enter_unprivileged(cfg: dict) -> None:
    uid = cfg["uid"]
    if cfg["in_userns"]:
        outer_uid = outer_gid = 0  # root of the user namespace unshare made, i.e. the invoking user
    else:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        _check(_libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")  # to write our id maps
        outer_uid = outer_gid = uid
    _check(_libc.unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)")
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {outer_uid} 1"),
                       ("gid_map", f"{uid} {outer_gid} 1")):
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    _check(_libc.chroot(b"."), "chroot")
    os.chdir("/sandbox")
    for cap in range(64):  # stops at the first number the kernel does not know
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    _check(_libc.capset(header, (ctypes.c_uint32 * 6)()), "capset")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")
    _libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)  # credential changes cleared unshare's --kill-child
    if os.getuid() == 0 or os.geteuid() == 0:
        raise OSError("still uid 0 after dropping privileges")


def _limit(which, value: int) -> None:
    import resource

    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(which, (value, value))


def _blocked(*args, **kwargs):
    raise OSError("blocked by the fastprune sandbox")


def fence(cfg: dict) -> None:
    """The Python-level second layer: rlimits and the removed fork/exec/socket entry points."""
    import resource
    import site

    site.main()  # started with -S (faster, and nothing from site-packages runs before the setup)
    import _socket
    import posix
    import socket
    import subprocess

    _limit(resource.RLIMIT_AS, cfg["memory_bytes"])
    _limit(resource.RLIMIT_CPU, cfg["cpu_seconds"])
    _limit(resource.RLIMIT_FSIZE, cfg["file_bytes"])
    _limit(resource.RLIMIT_NPROC, cfg["max_procs"])
    _limit(resource.RLIMIT_CORE, 0)
    for mod in (os, posix):
        for name in ("fork", "forkpty", "vfork", "system", "popen", "execv", "execve", "execl", "execle",
                     "execlp", "execlpe", "execvp", "execvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe",
                     "spawnv", "spawnve", "spawnvp", "spawnvpe", "posix_spawn", "posix_spawnp", "kill",
                     "killpg"):
            if hasattr(mod, name):
                setattr(mod, name, _blocked)
    subprocess.Popen = _blocked
    for mod in (socket, _socket):
        for name in ("socket", "create_connection", "create_server", "socketpair", "getaddrinfo", "fromfd"):
            if hasattr(mod, name):
                setattr(mod, name, _blocked)


def main() -> None:
    cfg = json.loads(sys.argv[1])
    status = os.fdopen(cfg["status_fd"], "w")
    try:
        if cfg["isolate"]:
            _load_native()
            build_root(cfg)
            enter_unprivileged(cfg)
        source_path = "/sandbox/solution.py" if cfg["isolate"] else cfg["solution"]
        with open(source_path, encoding="utf-8") as f:
            source = f.read()
    except Exception as exc:  # noqa: BLE001 - any failure here means "no sandbox", reported as such
        status.write(f"{type(exc).__name__}: {exc}")
        status.close()
        os._exit(SETUP_FAILED)
    status.write("ok")
    status.close()
    del sys.argv[1:]
    fence(cfg)
    code = compile(source, "solution.py", "exec")
    exec(code, {"__name__": "__main__", "__builtins__": __builtins__})


if __name__ == "__main__":
    main()
