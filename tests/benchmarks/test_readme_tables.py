"""The README's measured-numbers block is what benchmarks/readme_tables.py makes of benchmarks/results/."""

import json
import re

import pytest

from tests.benchmarks.scripts import ROOT, load_script


def _module():
    return load_script("readme_tables")


def test_readme_agrees_with_the_result_jsons():
    tables = _module()
    readme = (ROOT / "README.md").read_text()
    assert tables.replace_blocks(readme) == readme, (
        "README's measured or study block is stale: run python benchmarks/readme_tables.py --write README.md")


def test_depth_table_from_a_real_bench_run_flags_and_numbers(tmp_path):
    from fastprune.bench.options import BenchOptions
    from fastprune.bench.suite import run_bench
    from fastprune.models.options import ModelOptions

    (tmp_path / "decode_ops-cpu.json").write_text(json.dumps({"benchmark": "decode_ops"}))  # no provenance
    out = tmp_path / "bench-cpu-smollm2"
    run_bench(BenchOptions(models=["tiny:llama:4"], batch_sizes=[1], prompt_len=4, new_tokens=3, drop_layers=[1],
                           warmup=0, repeats=1, load=ModelOptions(device="cpu"), out=str(out)))
    tables = _module()
    block = tables.render(tmp_path)
    assert block.startswith(tables.BEGIN) and block.endswith(tables.END)
    doc = json.loads((out / "bench.json").read_text())
    pruned = doc["rows"][1]
    # one sample per side: a ratio without interval, flagged, its reason listed under its number
    line = next(x for x in block.splitlines() if x.startswith("| 3 (-1) | 1 | 1 | "))
    match = re.match(rf"\| 3 \(-1\) \| 1 \| 1 \| {pruned['speedup_prefill']:.2f}x !(\d+) \| "
                     rf"{pruned['speedup_decode']:.2f}x !(\d+) \| {1e3 * pruned['decode_step_s']['median']:.1f} \| "
                     r"1.33 \| ", line)
    assert match, line
    for number, phase in zip(match.groups(), ("prefill", "decode"), strict=True):
        note = next(x for x in block.splitlines() if x.startswith(f"{number}. "))
        assert f"depth 3 (-1) layers, batch 1, {phase}: " in note and "no interval: only 1 sample(s)" in note
    assert "number(s) flagged unreliable" in block
    assert "Not quoted: `decode_ops-cpu.json` predate(s) provenance" in block and "decode-step" not in block


def test_write_and_check(tmp_path):
    tables = _module()
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{tables.BEGIN}\nold\n{tables.END}\n{tables.STUDY_BEGIN}\nold\n{tables.STUDY_END}\noutro\n")
    results = tmp_path / "results"
    results.mkdir()
    paths = ["--results", str(results), "--study", str(tmp_path / "absent.json")]
    assert tables.main([*paths, "--check", str(readme)]) == 1
    assert tables.main([*paths, "--write", str(readme)]) == 0
    assert tables.main([*paths, "--check", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old" not in text
    assert "_no study committed: " in text
    readme.write_text("no markers")
    with pytest.raises(SystemExit, match="no <!-- measured:begin"):
        tables.main(["--results", str(results), "--write", str(readme)])


def test_study_block_from_a_real_report(tmp_path, monkeypatch):
    from fastprune.pipeline.config import RunConfig, config_to_dict
    from fastprune.pipeline.manifest import Manifest
    from fastprune.pipeline.report import write_report
    from tests.pipeline.synthetic_study import synthetic_study

    steps = synthetic_study(tmp_path, monkeypatch, recovered=True)
    config = RunConfig(stages=["evaluate"])
    manifest = Manifest(tmp_path, config_to_dict(config))
    for step in steps:
        manifest.start(step.name, step.stage, {})
        manifest.finish(step.name, [step.output], 60.0)
    write_report(tmp_path, config, steps, manifest)
    block = _module().render_study(tmp_path / "report.json").splitlines()
    assert block[0].startswith("<!-- study:begin") and block[-1] == "<!-- study:end -->"
    assert "the 3 steps took 3 min" in block[1]
    assert block[3:6] == ["| model | arith | piqa |", "|---|---|---|",
                          "| base | acc 0.750 [0.551, 0.880], n=24, chance 50% | acc 0.800 [0.739, 0.850], "
                          "n=200, chance 50% |"]
    row = block[6]
    # arith: 2 of 24 lost is noise (plain); piqa: 60 of 200 lost is resolved (bold); 0.5/0.8 kept = 62%
    assert row.startswith("| pruned-r10 | -0.083 [") and "**-0.300 [" in row and ", kept 62% [" in row
    assert row.split(" | ")[1].startswith("-0.083") and not row.split(" | ")[1].startswith("**")
    assert "Resolved at 95%: 2 of 4 differences from the base." in "\n".join(block)
    recovery = block.index("| recovered | arith | piqa |")
    assert block[recovery + 2].startswith("| recovered-r10 | +0.000 [") and "| **+0.200 [" in block[recovery + 2]
    assert block[-2] == "Resolved at 95%: 1 of 2 recovery differences (recovered-r10 on piqa)."


def test_measured_peers_are_quoted_with_interval_and_skipped_ones_with_the_reason(tmp_path):
    tables = _module()
    ci = {"value": 1.5, "low": 1.4, "high": 1.6, "n": 5, "method": "percentile bootstrap, paired"}
    row = {"batch": 4, "new_tokens": 16, "padded_token_share": 0.0, "fastprune": {"ms_per_step": 10.0},
           "vllm": {"ms_per_step": 15.0, "setup": "vllm 0.32.0 offline, float32"},
           "vs_peers": {"vllm": {"tokens_per_s": {**ci, "unreliable": []},
                                 "ms_per_step": {**ci, "value": 1.45, "unreliable": ["load average 8 > 2"]}}}}
    doc = {"provenance": {"commit": "abcdef123456", "dirty": False, "threads": 2}, "results": [row],
           "peers": {"vllm": {"skipped": None}, "llama.cpp": {"skipped": "llama-cpp-python is not installed"}}}
    (tmp_path / "generate-cpu-smollm2.json").write_text(json.dumps(doc))
    block = tables.render(tmp_path)
    line = next(x for x in block.splitlines() if "engine vs vllm" in x)
    assert line.startswith("| greedy, 16 forced tokens, batch 4: engine vs vllm 0.32.0 offline, float32; ")
    assert "| 1.50x [1.40, 1.60] / 1.45x [1.40, 1.60] (n=5; 10.0 vs 15.0 ms/step) !1 | abcdef12, 2 threads |" in line
    assert "1. greedy, 16 forced tokens, batch 4, vs vllm: load average 8 > 2" in block
    assert "| peers (same prompts) | not measured: llama.cpp: llama-cpp-python is not installed |" in block
