import subprocess

from fastprune import provenance


def test_code_version_reports_this_checkout():
    found = provenance.code_version()
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                          cwd=provenance.Path(provenance.__file__).parent).stdout.strip()
    assert found["commit"] == head
    assert isinstance(found["dirty"], bool)


def test_code_version_outside_git_is_unknown(tmp_path):
    assert provenance.code_version(tmp_path) == {"commit": None, "dirty": None}


def test_dirty_flag_follows_tracked_changes(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "f.txt").write_text("a")
    git("add", "f.txt")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "x")
    assert provenance.code_version(tmp_path)["dirty"] is False
    (tmp_path / "f.txt").write_text("b")
    assert provenance.code_version(tmp_path)["dirty"] is True


def test_steal_share_from_snapshots():
    before = {"user": 100, "idle": 100, "steal": 0}
    after = {"user": 150, "idle": 130, "steal": 20}
    assert provenance.steal_share(before, after) == 20 / 100
    assert provenance.steal_share(None, after) is None
    assert provenance.steal_share(before, before) is None


def test_run_provenance_fields():
    record = provenance.run_provenance(threads=3)
    assert record["threads"] == 3
    assert record["cpu_count"] >= 1
    assert record["versions"]["torch"]
    assert {"commit", "dirty", "host", "cpu_model", "load_average", "time_utc"} <= set(record)
