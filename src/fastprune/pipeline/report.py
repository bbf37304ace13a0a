"""``RUN/report.md`` with its charts: what was pruned, what it cost in scores and what it bought in speed."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from fastprune.pipeline.config import RunConfig
from fastprune.pipeline.manifest import Manifest
from fastprune.pipeline.steps import Step
from fastprune.utils_io import atomic_write_text

# The paper's contrast: likelihood-scored classification survives pruning, generation does not.
CLASSIFICATION_TASKS = ("piqa", "mc")
GENERATIVE_TASKS = ("gsm8k", "gsm8k_fewshot", "humaneval", "arith", "parens", "math500", "mbpp", "xsum")


def task_kind(task: str) -> str | None:
    base = task.split(":")[0]
    if base in CLASSIFICATION_TASKS:
        return "classification"
    if base in GENERATIVE_TASKS:
        return "generative"
    return None


def retention(value: float, base: float, higher_is_better: bool) -> float:
    """Share of the base score a model keeps (1.0 = all of it); for lower-is-better metrics base/value."""
    if higher_is_better:
        return value / base if base else math.nan
    return base / value if value else math.nan


def collect_scores(steps: list[Step]) -> tuple[dict[str, dict], dict[str, tuple[str, bool]]]:
    """Scores per model label, and each task's primary metric as ``fastprune eval`` recorded it."""
    scores: dict[str, dict] = {}
    primaries: dict[str, tuple[str, bool]] = {}
    for step in steps:
        if step.stage == "evaluate" and step.output.is_file():
            doc = json.loads(step.output.read_text())
            # scores.json is {model: {task: {...}}}; one model per evaluation step here.
            scores[step.label] = next(iter(doc.values())) if doc else {}
            run_info = step.output.parent / "run.json"
            if run_info.is_file():
                for task, p in json.loads(run_info.read_text()).get("primary", {}).items():
                    primaries.setdefault(task, (p["metric"], p["higher_is_better"]))
    return scores, primaries


def _fmt(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def scores_table(scores: dict[str, dict], primaries: dict[str, tuple[str, bool]]) -> tuple[str, dict]:
    """Markdown table (task x model, primary metric, retention vs base) and the retention numbers."""
    if "base" not in scores:
        return "_no base-model scores_", {}
    models = list(scores)
    tasks = list(scores["base"])
    lines = ["| task | metric | " + " | ".join(models) + " |", "|---|---|" + "---|" * len(models)]
    kept: dict[str, dict[str, float]] = {m: {} for m in models}
    for task in tasks:
        if task not in primaries:
            continue
        name, higher = primaries[task]
        base_value = scores["base"][task].get(name, math.nan)
        cells = []
        for model in models:
            value = scores[model].get(task, {}).get(name, math.nan)
            ratio = retention(value, base_value, higher)
            kept[model][task] = ratio
            cells.append(_fmt(value) if model == "base" else f"{_fmt(value)} ({100 * ratio:.0f}%)"
                         if not math.isnan(ratio) else _fmt(value))
        n = scores["base"][task].get("n", "")
        lines.append(f"| {task} (n={n}) | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines), kept


def plot_contrast(kept: dict[str, dict[str, float]], path: Path) -> bool:
    """Bar chart of mean classification vs generative retention per model; False if nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [m for m in kept if m != "base"]
    groups = {"classification": [], "generative": []}
    for model in models:
        for kind in groups:
            values = [v for t, v in kept[model].items() if task_kind(t) == kind and not math.isnan(v)]
            groups[kind].append(100 * sum(values) / len(values) if values else math.nan)
    if not models or all(math.isnan(v) for vs in groups.values() for v in vs):
        return False
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(models) + 2), 4))
    width = 0.38
    xs = range(len(models))
    for offset, (kind, values) in zip((-width / 2, width / 2), groups.items(), strict=True):
        ax.bar([x + offset for x in xs], [0 if math.isnan(v) else v for v in values], width, label=kind)
    ax.axhline(100, color="k", lw=0.8, ls="--")
    ax.set_xticks(list(xs), models, rotation=20)
    ax.set_ylabel("% of base score kept")
    ax.set_title("What pruning keeps: classification vs generative reasoning")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _pruning_section(run_dir: Path, steps: list[Step]) -> list[str]:
    lines = []
    for step in steps:
        cfg_path = step.output / "config.json"
        if step.stage != "prune" or not cfg_path.is_file():
            continue
        cfg = json.loads(cfg_path.read_text())
        block = cfg.get("fastprune", {})
        lines.append(f"- **{step.label}**: removed layers {block.get('removed_layers')} of "
                     f"{block.get('original_num_layers')} ({block.get('strategy')}); "
                     f"{cfg.get('num_hidden_layers')} layers left -> `{step.output.relative_to(run_dir)}`")
    return lines


def _ratio_cell(row: dict, phase: str) -> str:
    ci = row.get(f"speedup_{phase}_ci")
    text = f"{row[f'speedup_{phase}']:.3f}"
    if ci and ci.get("low") is not None and ci.get("method") != "reference":
        text += f" [{ci['low']:.3f}, {ci['high']:.3f}]"
    return text + (" **!**" if phase in row.get("unreliable", {}) else "")


def _bench_section(run_dir: Path) -> list[str]:
    path = run_dir / "bench" / "bench.json"
    if not path.is_file():
        return ["_bench not run_"]
    doc = json.loads(path.read_text())
    noise = doc.get("noise", {})
    prov = doc.get("provenance", {})
    lines = [f"Device: {doc.get('device')}; torch {doc.get('torch')}; {prov.get('threads')} threads on "
             f"{prov.get('cpu_count')} cores ({prov.get('cpu_model')}); load average {noise.get('load_before')} "
             f"before, {noise.get('load_after')} after; steal {noise.get('steal_share')}.", "",
             "Speedups are ratios of medians over pooled, interleaved repeats with their 95% bootstrap interval "
             "(n samples per side); **!** marks a ratio flagged unreliable, with the reason below.", "",
             "| model | layers | backend | batch | n | TTFT ms | decode ms/step | speedup prefill [95% CI] "
             "| speedup decode [95% CI] | ideal L/(L-n) | ideal bytes S* |", "|---" * 11 + "|"]
    for r in doc["rows"]:
        lines.append(
            f"| {Path(r['model']).name} | {r['num_layers']} | {r['backend']} | {r['batch_size']} | "
            f"{r['decode_step_s'].get('n', '')} | {r['prefill_s']['median'] * 1e3:.1f} | "
            f"{r['decode_step_s']['median'] * 1e3:.1f} | {_ratio_cell(r, 'prefill')} | {_ratio_cell(r, 'decode')} | "
            f"{r['ideal_layers']:.3f} | {r['ideal_bytes']:.3f} |"
        )
    flagged = [(r, phase, reasons) for r in doc["rows"] for phase, reasons in r.get("unreliable", {}).items()]
    if flagged:
        lines += ["", f"**{len(flagged)} ratio(s) unreliable: do not read them as speedups.**", ""]
        lines += [f"- {Path(r['model']).name}, {r['backend']}, batch {r['batch_size']}, {phase}: {'; '.join(reasons)}"
                  for r, phase, reasons in flagged]
    for failure in doc.get("failed", []):
        lines.append(f"- not measured: {failure}")
    lines += ["", "The byte-model ideal S* counts the embeddings/LM head that every step reads whatever the depth; "
              "it is the speedup to expect for decoding on small models. L/(L-n) is approached only when the "
              "layers dominate the weight bytes (large models).", "", "![speedup](bench/speedup.png)"]
    return lines


def write_report(run_dir: Path, config: RunConfig, steps: list[Step], manifest: Manifest) -> Path:
    lines = [f"# fastprune study: {config.model}", "",
             f"Written {time.strftime('%Y-%m-%d %H:%M:%S')}; stages: {', '.join(config.stages)}; "
             f"pruning ratios {config.prune.ratios} ({config.prune.strategy}).", ""]
    if (run_dir / "calibrate" / "heatmap.png").is_file():
        lines += ["## Layer similarity", "",
                  f"Calibrated on `{config.calibrate.data}` ({config.calibrate.max_tokens} tokens max, "
                  f"sequences of {config.calibrate.seq_len}).", "",
                  "![angular distance](calibrate/heatmap.png)", ""]
        if (run_dir / "calibrate" / "bi.png").is_file():
            lines += ["![block influence](calibrate/bi.png)", ""]
    prune_lines = _pruning_section(run_dir, steps)
    if prune_lines:
        lines += ["## Pruned layers", "", *prune_lines, ""]
    scores, primaries = collect_scores(steps)
    if scores:
        table, kept = scores_table(scores, primaries)
        lines += ["## Scores", "", "Primary metric per task; in brackets the share of the base score kept.", "",
                  table, ""]
        if plot_contrast(kept, run_dir / "contrast.png"):
            lines += ["![contrast](contrast.png)", ""]
    if "bench" in config.stages:
        lines += ["## Speed", "", *_bench_section(run_dir), ""]
    lines += ["## What ran", "", "| step | status | seconds |", "|---|---|---|"]
    for step in steps:
        rec = manifest.steps.get(step.name, {})
        lines.append(f"| {step.name} | {rec.get('status', 'pending')} | {rec.get('seconds', '')} |")
    path = run_dir / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
