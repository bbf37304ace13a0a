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


def test_machine_noise_flags_load_above_the_cores_in_use_and_steal():
    quiet = {"load_average": [1.5, 1.0, 1.0], "cpu_times": {"user": 100, "idle": 100, "steal": 0}}
    later = {"load_average": [2.0, 1.0, 1.0], "cpu_times": {"user": 190, "idle": 200, "steal": 10}}
    ok = provenance.machine_noise(quiet, later, cores_in_use=2)
    assert ok["reasons"] == [] and ok["steal_share"] == 10 / 200 and ok["load_after"] == [2.0, 1.0, 1.0]
    busy = provenance.machine_noise(quiet, {**later, "load_average": [2.01, 1.0, 1.0]}, cores_in_use=2)
    assert busy["reasons"] == ["load average 1.50 before / 2.01 after exceeds the 2 cores in use"]
    stolen = provenance.machine_noise(quiet, later, cores_in_use=2, max_steal=0.04)
    assert stolen["reasons"] == ["steal time 5.0% of CPU time (above 4%)"]
    blind = provenance.machine_noise({"load_average": None, "cpu_times": None}, later, cores_in_use=2)
    assert blind["reasons"] == ["load average unreadable"] and blind["steal_share"] is None
    snap = provenance.noise_snapshot()
    assert set(snap) == {"load_average", "cpu_times"}
