"""utils_io: atomic outputs get the permissions a plain open()/mkdir would, under the process umask."""

import os
import stat

import pytest

from fastprune.utils_io import atomic_directory, atomic_output, atomic_write_text, chmod_as_created, process_umask


@pytest.fixture(params=[0o022, 0o077])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_and_dirs_follow_the_umask(tmp_path, umask):
    assert process_umask() == umask and process_umask() == umask  # reading it leaves it as it was
    atomic_write_text(tmp_path / "sub" / "a.txt", "x")
    assert (tmp_path / "sub" / "a.txt").read_text() == "x" and _mode(tmp_path / "sub" / "a.txt") == 0o666 & ~umask
    with atomic_directory(tmp_path / "d") as tmp:
        assert _mode(tmp) == 0o777 & ~umask
    assert _mode(tmp_path / "d") == 0o777 & ~umask
    other = tmp_path / "other"
    other.write_text("")
    os.chmod(other, 0o600)
    chmod_as_created(other)
    assert _mode(other) == 0o666 & ~umask


def test_atomic_output_leaves_nothing_on_failure_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target, suffix=".tmp.png") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]
    with atomic_output(target, suffix=".tmp.png") as tmp:
        assert tmp.name.endswith(".tmp.png") and tmp.parent == tmp_path
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]
