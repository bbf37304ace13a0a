"""The report's quality part on synthetic scores: intervals, paired differences and their verdicts."""

import pytest

from fastprune.pipeline.config import RunConfig, config_to_dict
from fastprune.pipeline.manifest import Manifest
from fastprune.pipeline.report import collect_comparisons, write_report
from fastprune.pipeline.steps import Step
from tests.pipeline.synthetic_study import synthetic_study


@pytest.fixture
def study(tmp_path, monkeypatch):
    return tmp_path, synthetic_study(tmp_path, monkeypatch)


def test_not_resolved_wording_appears_exactly_when_it_should(study):
    run_dir, steps = study
    comparisons, notes = collect_comparisons(steps)
    assert not notes
    assert not comparisons["pruned-r10"]["arith"].resolved and comparisons["pruned-r10"]["piqa"].resolved
    config = RunConfig(stages=["evaluate"])
    report = write_report(run_dir, config, steps, Manifest(run_dir, config_to_dict(config))).read_text()
    small_row = next(line for line in report.splitlines() if line.startswith("| pruned-r10 | arith |"))
    big_row = next(line for line in report.splitlines() if line.startswith("| pruned-r10 | piqa |"))
    assert small_row.endswith("| not resolved: n=24: a difference under 0.25 cannot be resolved |")
    assert big_row.endswith("| **resolved** |") and "not resolved" not in big_row
    assert report.count("not resolved:") == 1
    assert "Resolved at 95%: 1 of 2 differences (pruned-r10 on piqa)." in report
    # values with their Wilson interval, retention with its paired interval, chance beside the metric
    arith_scores = next(line for line in report.splitlines() if line.startswith("| arith (n=24) |"))
    assert arith_scores.startswith("| arith (n=24) | acc (chance 50%) | 0.750 [0.551, 0.880] | 0.667 [")
    assert " (89% [" in arith_scores  # 16/18 kept, with its paired interval
    assert (run_dir / "contrast.png").is_file() and "![contrast](contrast.png)" in report


def test_report_json_holds_every_number_the_markdown_shows(study):
    import json

    run_dir, steps = study
    config = RunConfig(stages=["evaluate"])
    manifest = Manifest(run_dir, config_to_dict(config))
    for step, seconds in zip(steps, (61.5, 58.5), strict=True):
        manifest.start(step.name, step.stage, {})
        manifest.finish(step.name, [step.output], seconds)
    report = write_report(run_dir, config, steps, manifest).read_text()
    doc = json.loads((run_dir / "report.json").read_text())
    piqa = doc["comparisons"]["pruned-r10"]["piqa"]
    assert piqa["resolved"] and not doc["comparisons"]["pruned-r10"]["arith"]["resolved"]
    assert (piqa["lost"], piqa["gained"], piqa["n"]) == (60, 0, 200)
    row = next(line for line in report.splitlines() if line.startswith("| pruned-r10 | piqa |"))
    assert f"| {piqa['p_value']:.3g} |" in row and f"{piqa['difference']:+.3f}" in row
    assert doc["scores"]["base"]["piqa"]["acc"] == 0.8 and doc["primaries"]["piqa"] == {
        "metric": "acc", "higher_is_better": True}
    assert doc["total_seconds"] == 120.0 and "| total (steps done) | | 120 (2.0 min) |" in report
    assert set(doc["steps"]) == {"evaluate/base", "evaluate/pruned-r10"}
    assert set(doc["steps"]["evaluate/base"]["code"]) == {"commit", "dirty"}  # the code each step ran
    # where each number came from: each evaluation's own provenance, and the code that rendered it
    assert set(doc["measured_at"]) == {"base", "pruned-r10"}
    assert {"commit", "dirty", "threads", "versions"} <= set(doc["measured_at"]["base"])
    assert "commit" in doc["rendered_by"] and "rendered at " in report


def test_recovery_is_compared_with_its_pruned_model(tmp_path, monkeypatch):
    import json

    steps = synthetic_study(tmp_path, monkeypatch, recovered=True)
    config = RunConfig(stages=["evaluate"])
    report = write_report(tmp_path, config, steps, Manifest(tmp_path, config_to_dict(config))).read_text()
    section = report.split("## What recovery changed", 1)[1].split("\n## ", 1)[0]
    piqa = next(line for line in section.splitlines() if line.startswith("| recovered-r10 | piqa |"))
    arith = next(line for line in section.splitlines() if line.startswith("| recovered-r10 | arith |"))
    assert piqa.startswith("| recovered-r10 | piqa | 0.500 | 0.700 | +0.200 [") and piqa.endswith("| **resolved** |")
    assert "(0 lost, 40 gained)" in piqa
    assert "| +0.000 [" in arith and "not resolved: n=24: " in arith
    assert "Resolved at 95%: 1 of 2 differences (recovered-r10 on piqa)." in section
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["recovery"]["recovered-r10"]["piqa"]["gained"] == 40
    assert set(doc["comparisons"]) == {"pruned-r10", "recovered-r10"}  # against the base, as before


def test_no_recovery_section_without_a_recovered_model(study):
    run_dir, steps = study
    config = RunConfig(stages=["evaluate"])
    report = write_report(run_dir, config, steps, Manifest(run_dir, config_to_dict(config))).read_text()
    assert "## What recovery changed" not in report


def test_all_resolved_has_no_hedge(study):
    run_dir, steps = study
    comparisons, _ = collect_comparisons(steps)
    from fastprune.pipeline.report import differences_section

    only_big = {"pruned-r10": {"piqa": comparisons["pruned-r10"]["piqa"]}}
    text = "\n".join(differences_section(only_big, []))
    assert "Resolved at 95%: 1 of 1 differences" in text and "not resolved" not in text
    assert "no evidence of a difference" not in text
    assert "no paired comparison" in differences_section({}, [])[0]


def test_task_kinds_of_the_contrast():
    from fastprune.pipeline.report import task_kind

    assert task_kind("piqa") == task_kind("mc:x") == "classification"
    assert task_kind("parens") == task_kind("arith") == "generative"
    assert task_kind("arith_1dc") == "reasoning probe" and task_kind("ppl") is None


def test_calibration_figures_of_the_schema_are_linked(tmp_path):
    from fastprune.importance.schema import FIGURES

    (tmp_path / "calibrate").mkdir()
    (tmp_path / "calibrate" / "bi.png").write_bytes(b"png")
    config = RunConfig(stages=["calibrate"])
    report = write_report(tmp_path, config, [], Manifest(tmp_path, config_to_dict(config))).read_text()
    assert "## Layer similarity" in report and "![block influence](calibrate/bi.png)" in report
    assert "heatmap.png" not in report  # not written, so not linked
    (tmp_path / "calibrate" / "heatmap.png").write_bytes(b"png")
    report = write_report(tmp_path, config, [], Manifest(tmp_path, config_to_dict(config))).read_text()
    for name, (title, _) in FIGURES.items():
        assert f"![{title}](calibrate/{name})" in report
    assert report.index("heatmap.png") < report.index("bi.png")


def test_pruned_layers_say_which_metric_ranked_them(tmp_path):
    import json

    steps = []
    for tag, extra in (("bi", {"metric": "taylor"}), ("block", {"metric": "cosine"}), ("rev", {})):
        out = tmp_path / "prune" / tag
        out.mkdir(parents=True)
        block = {"removed_layers": [1], "original_num_layers": 4, "strategy": tag, **extra}
        out.joinpath("config.json").write_text(json.dumps({"num_hidden_layers": 3, "fastprune": block}))
        steps.append(Step(f"prune/{tag}", "prune", [], out, label=f"pruned-{tag}"))
    config = RunConfig(stages=["prune"])
    report = write_report(tmp_path, config, steps, Manifest(tmp_path, config_to_dict(config))).read_text()
    assert "(bi by `taylor`, the lowest dropped: first-order Taylor importance" in report
    assert "(block by `cosine`, the highest dropped: mean cosine similarity" in report
    assert "removed layers [1] of 4 (rev); 3 layers left" in report


def test_scores_written_before_they_carried_meta_still_read(study):
    import json

    from fastprune.pipeline.report import collect_scores, task_kinds

    run_dir, steps = study
    for step in steps:
        doc = json.loads(step.output.read_text())
        assert all("meta" in entry for by_task in doc.values() for entry in by_task.values())
        step.output.write_text(json.dumps({m: {t: {k: v for k, v in e.items() if k != "meta"}
                                               for t, e in by_task.items()} for m, by_task in doc.items()}))
    scores, primaries = collect_scores(steps)
    assert primaries == {"arith": ("acc", True), "piqa": ("acc", True)}  # from run.json
    assert task_kinds(scores) == {"arith": "generative", "piqa": "classification"}  # from the registry
