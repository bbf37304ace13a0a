import json

from fastprune.calibrate.report import remove_results, write_results


def _importance(n=3):
    ang = [[abs(i - j) / (n + 1) for j in range(n + 1)] for i in range(n + 1)]
    return {
        "model": "tiny",
        "tokens": 1234,
        "angular": ang,
        "bi": [0.1, 0.2, 0.05],
        "bi_last_token": [0.2, 0.1, 0.3],
    }


def test_results_and_plots_are_written_then_removed(tmp_path):
    out = tmp_path / "o"
    write_results(out, _importance())
    assert json.loads((out / "importance.json").read_text())["tokens"] == 1234
    for name in ("heatmap.png", "bi.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left
    remove_results(out)
    assert list(out.iterdir()) == []


def test_plots_can_be_left_out(tmp_path):
    write_results(tmp_path, _importance(), plots=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["importance.json"]


def test_each_schema_figure_is_drawn_when_its_metrics_are_there(tmp_path):
    from fastprune.calibrate.report import RESULT_FILES
    from fastprune.importance.schema import FIGURES

    assert set(RESULT_FILES) == {"importance.json", *FIGURES}
    only_angular = {k: v for k, v in _importance().items() if not k.startswith("bi")}
    write_results(tmp_path, only_angular)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heatmap.png", "importance.json"]
