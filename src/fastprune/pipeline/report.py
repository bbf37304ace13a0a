"""``RUN/report.md`` with its charts: what was pruned, what it cost in scores and what it bought in speed."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from fastprune.errors import FastpruneError
from fastprune.evaluate import (
    PairedComparison,
    chance_note,
    compare_evals,
    contrast_group,
    load_eval,
    primaries_of,
    retention_interval,
    task_info,
    too_small,
    with_interval,
)
from fastprune.importance.schema import FIGURES, REDUNDANT, get_metric
from fastprune.pipeline.config import RunConfig
from fastprune.pipeline.manifest import Manifest
from fastprune.pipeline.report_document import report_document
from fastprune.pipeline.steps import Step
from fastprune.utils_io import atomic_write_json, atomic_write_text

UNBOUNDED_BAR = 300.0  # % kept: where the contrast plot cuts error bars with no upper bound


def task_kind(task: str, entry: dict | None = None) -> str | None:
    """The task's side of the contrast (classification, generative, reasoning probe; None: neither), from
    the kind its scores record; for scores written before they recorded it, the registered task's kind."""
    kind = (entry or {}).get("meta", {}).get("kind")
    if kind is None:
        info = task_info(task)
        kind = info.kind if info is not None else None
    return contrast_group(kind)


def task_kinds(scores: dict[str, dict]) -> dict[str, str | None]:
    """task -> contrast side, from the first model whose scores record the task's kind."""
    out: dict[str, str | None] = {}
    for by_task in scores.values():
        for task, entry in by_task.items():
            if out.get(task) is None:
                out[task] = task_kind(task, entry)
    return out


def retention(value: float, base: float, higher_is_better: bool) -> float:
    """Share of the base score a model keeps (1.0 = all of it); for lower-is-better metrics base/value."""
    if higher_is_better:
        return value / base if base else math.nan
    return base / value if value else math.nan


def collect_scores(steps: list[Step]) -> tuple[dict[str, dict], dict[str, tuple[str, bool]]]:
    """Scores per model label, and each task's primary metric as ``fastprune eval`` recorded it (in the
    scores' ``meta``; run.json's ``primary`` for evaluations written before scores carried it)."""
    scores: dict[str, dict] = {}
    recorded: dict[str, tuple[str, bool]] = {}
    for step in steps:
        if step.stage == "evaluate" and step.output.is_file():
            doc = json.loads(step.output.read_text())
            # scores.json is {model: {task: {...}}}; one model per evaluation step here.
            scores[step.label] = next(iter(doc.values())) if doc else {}
            run_info = step.output.parent / "run.json"
            if run_info.is_file():
                for task, p in json.loads(run_info.read_text()).get("primary", {}).items():
                    recorded.setdefault(task, (p["metric"], p["higher_is_better"]))
    return scores, primaries_of(scores, recorded)


def _evaluated(steps: list[Step]) -> dict[str, Path]:
    """label -> scores.json of every evaluation step that has written one."""
    return {s.label: s.output for s in steps if s.stage == "evaluate" and s.output.is_file()}


def collect_comparisons(steps: list[Step]) -> tuple[dict[str, dict[str, PairedComparison]], list[str]]:
    """Every evaluated model against the base, paired on the same items (from the per-sample records).

    Returns the comparisons (label -> task -> comparison) and one note per model that could not be paired.
    """
    done = _evaluated(steps)
    if "base" not in done:
        return {}, []
    base = load_eval(done["base"])
    out, notes = {}, []
    for label, path in done.items():
        if label == "base":
            continue
        try:
            out[label] = compare_evals(base, load_eval(path))
        except FastpruneError as exc:
            notes.append(f"{label}: no paired comparison ({exc})")
    return out, notes


def _fmt(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _keep_cell(ratio: float, c: PairedComparison | None) -> str:
    if math.isnan(ratio):
        return ""
    return f" ({_pct(ratio)}{retention_interval(c)})"


def scores_table(scores: dict[str, dict], primaries: dict[str, tuple[str, bool]],
                 comparisons: dict[str, dict[str, PairedComparison]] | None = None) -> tuple[str, dict]:
    """Markdown table (task x model: primary metric with its 95% interval, retention vs base with its
    paired interval) and the retention numbers."""
    if "base" not in scores:
        return "_no base-model scores_", {}
    comparisons = comparisons or {}
    models = list(scores)
    tasks = list(scores["base"])
    lines = ["| task | metric | " + " | ".join(models) + " |", "|---|---|" + "---|" * len(models)]
    kept: dict[str, dict[str, float]] = {m: {} for m in models}
    for task in tasks:
        if task not in primaries:
            continue
        name, higher = primaries[task]
        base_entry = scores["base"][task]
        base_value = base_entry.get(name, math.nan)
        cells = []
        for model in models:
            entry = scores[model].get(task, {})
            value = entry.get(name, math.nan)
            ratio = retention(value, base_value, higher)
            kept[model][task] = ratio
            cell = with_interval(value, entry.get("ci95", {}).get(name), _fmt)
            if model != "base":
                cell += _keep_cell(ratio, comparisons.get(model, {}).get(task))
            cells.append(cell)
        n = base_entry.get("n", "")
        lines.append(f"| {task} (n={n}) | {name}{chance_note(base_entry, name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines), kept


RECOVERED, PRUNED = "recovered-", "pruned-"


def collect_recovery(steps: list[Step]) -> tuple[dict[str, dict[str, PairedComparison]], list[str]]:
    """Each recovered model against the pruned model it was trained from, paired on the same items: what
    the recovery finetune bought (label of the recovered model -> task -> comparison; notes as above)."""
    done = _evaluated(steps)
    out, notes = {}, []
    for label, path in done.items():
        pruned = PRUNED + label[len(RECOVERED):] if label.startswith(RECOVERED) else None
        if pruned not in done:
            continue
        try:
            out[label] = compare_evals(load_eval(done[pruned]), load_eval(path))
        except FastpruneError as exc:
            notes.append(f"{label}: no paired comparison with {pruned} ({exc})")
    return out, notes


def _difference_rows(comparisons: dict[str, dict[str, PairedComparison]]) -> tuple[list[str], list[str]]:
    """One table row per (model, task) with its verdict, and the "model on task" names of those resolved."""
    rows, resolved = [], []
    for model, by_task in comparisons.items():
        for task, c in by_task.items():
            if c.resolved:
                resolved.append(f"{model} on {task}")
                mark = "**resolved**"
            else:
                mark = f"not resolved: {too_small(c)}"
            counts = f" ({c.lost} lost, {c.gained} gained)" if c.lost is not None else ""
            rows.append(f"| {model} | {task} | {_fmt(c.base)} | {_fmt(c.other)} | {c.difference:+.3f} "
                        f"[{c.difference_ci[0]:+.3f}, {c.difference_ci[1]:+.3f}] | {c.test}{counts} | "
                        f"{c.p_value:.3g} | {mark} |")
    return rows, resolved


def _resolved_summary(resolved: list[str], total: int) -> str:
    return (f"Resolved at 95%: {len(resolved)} of {total} differences"
            + (f" ({', '.join(resolved)})." if resolved else ".")
            + ("" if len(resolved) == total else
               " The others are smaller than these samples can tell apart from noise: read them as "
               "\"no evidence of a difference\", not as \"no difference\"."))


def differences_section(comparisons: dict[str, dict[str, PairedComparison]], notes: list[str]) -> list[str]:
    """Each model-vs-base difference with its paired test, marked resolved or said to be too small to tell."""
    rows, resolved = _difference_rows(comparisons)
    if not rows:
        return ["_no paired comparison (no per-sample records of the base and another model)_", *notes]
    return [
        "Every model is scored on the same items as the base, so each difference is paired: exact McNemar "
        "on the items only one of the two got right (accuracies), a sign-flip permutation test otherwise; "
        "the interval is a paired bootstrap. A difference is resolved when p < 0.05.", "",
        "| model | task | base | model | difference [95% CI] | test | p | verdict |",
        "|---|---|---|---|---|---|---|---|", *rows, "", _resolved_summary(resolved, len(rows)), "",
        "The smallest resolvable difference is, for accuracies, the smallest net |lost - gained| / n that "
        "exact McNemar calls significant with the observed number of discordant items (at least 6, the "
        "fewest with which an exact two-sided test can reach p < 0.05); for other metrics "
        "1.96 x sd(per-item differences) / sqrt(n) (normal approximation), for perplexity the half-width "
        "of the paired bootstrap interval.", *(["", *notes] if notes else [])]


def recovery_section(recovery: dict[str, dict[str, PairedComparison]], notes: list[str]) -> list[str]:
    """What the recovery finetune changed: each recovered model against its pruned model, paired."""
    rows, resolved = _difference_rows(recovery)
    if not rows:
        return []
    return [
        "Each recovered model against the pruned model it was finetuned from, on the same items and with the "
        "same tests: a positive difference is what recovery won back (for ppl, a negative one).", "",
        "| recovered | task | pruned | recovered | difference [95% CI] | test | p | verdict |",
        "|---|---|---|---|---|---|---|---|", *rows, "", _resolved_summary(resolved, len(rows)),
        *(["", *notes] if notes else [])]


def plot_contrast(kept: dict[str, dict[str, float]], path: Path,
                  comparisons: dict[str, dict[str, PairedComparison]] | None = None,
                  kinds: dict[str, str | None] | None = None) -> bool:
    """Retention per task and model, classification tasks beside generative ones, with the paired 95%
    intervals as error bars; False if nothing to plot. ``kinds``: task -> contrast side (``task_kinds``;
    by default the registered tasks' kinds)."""
    from matplotlib import cm
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    comparisons = comparisons or {}
    models = [m for m in kept if m != "base"]
    kinds = dict(kinds or {})
    for m in models:
        for t in kept[m]:
            kinds.setdefault(t, task_kind(t))
    colors = {"classification": cm.Blues, "reasoning probe": cm.Greens, "generative": cm.Oranges}
    tasks = sorted({t for m in models for t, v in kept[m].items() if kinds[t] and not math.isnan(v)},
                   key=lambda t: (list(colors).index(kinds[t]), t))
    if not models or not tasks:
        return False
    fig = Figure(figsize=(max(5, 0.5 * len(models) * len(tasks) + 2), 4))
    FigureCanvasAgg(fig)  # no pyplot: no global backend to select, nothing to close
    ax = fig.subplots()
    width = 0.8 / len(tasks)
    for k, task in enumerate(tasks):
        xs = [i - 0.4 + width * (k + 0.5) for i in range(len(models))]
        values = [100 * kept[m].get(task, math.nan) for m in models]
        errors = [[], []]
        for m, v in zip(models, values, strict=True):
            ci = getattr(comparisons.get(m, {}).get(task), "retention_ci", (math.nan, math.nan))
            ok = math.isfinite(ci[0]) and not math.isnan(ci[1]) and math.isfinite(v)
            # an unbounded upper end (the base scored 0 in some resamples) is drawn up to the axis top
            high = UNBOUNDED_BAR if math.isinf(ci[1]) else 100 * ci[1]
            errors[0].append(max(0.0, v - 100 * ci[0]) if ok else 0.0)
            errors[1].append(max(0.0, high - v) if ok else 0.0)
        shade = colors[kinds[task]](0.45 + 0.4 * (k + 1) / len(tasks))
        ax.bar(xs, [0 if math.isnan(v) else v for v in values], width, yerr=errors, capsize=3, color=shade,
               label=f"{task} ({kinds[task]})")
    ax.axhline(100, color="k", lw=0.8, ls="--")
    ax.set_ylim(0, min(ax.get_ylim()[1], UNBOUNDED_BAR))
    ax.set_xticks(list(range(len(models))), models, rotation=20)
    ax.set_ylabel("% of base score kept (95% CI)")
    ax.set_title("What pruning keeps: classification vs generative reasoning", fontsize=10)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def _ranked_by(metric: str | None) -> str:
    """How the strategy ranked layers, in the schema's words (empty for strategies that read no metric)."""
    spec = get_metric(metric) if metric else None
    if spec is None:
        return ""
    end = "highest" if spec.direction == REDUNDANT else "lowest"
    return f" by `{metric}`, the {end} dropped: {spec.help}"


def collect_pruned(run_dir: Path, steps: list[Step]) -> dict[str, dict]:
    """label -> what each written pruned checkpoint records of its pruning, and its folder in the run dir."""
    out = {}
    for step in steps:
        cfg_path = step.output / "config.json"
        if step.stage != "prune" or not cfg_path.is_file():
            continue
        cfg = json.loads(cfg_path.read_text())
        block = cfg.get("fastprune", {})
        out[step.label] = {"removed_layers": block.get("removed_layers"),
                           "original_num_layers": block.get("original_num_layers"),
                           "num_hidden_layers": cfg.get("num_hidden_layers"),
                           "strategy": block.get("strategy"), "metric": block.get("metric"),
                           "path": str(step.output.relative_to(run_dir))}
    return out


def _pruning_section(pruned: dict[str, dict]) -> list[str]:
    return [f"- **{label}**: removed layers {p['removed_layers']} of {p['original_num_layers']} ({p['strategy']}"
            f"{_ranked_by(p['metric'])}); {p['num_hidden_layers']} layers left -> `{p['path']}`"
            for label, p in pruned.items()]


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
    figures = [(title, name) for name, (title, _) in FIGURES.items() if (run_dir / "calibrate" / name).is_file()]
    if figures:
        lines += ["## Layer similarity", "",
                  f"Calibrated on `{config.calibrate.data}` "
                  f"({config.calibrate.calibration.max_tokens or 'all'} tokens max, "
                  f"sequences of {config.calibrate.calibration.seq_len}).", ""]
        for title, name in figures:
            lines += [f"![{title}](calibrate/{name})", ""]
    pruned = collect_pruned(run_dir, steps)
    prune_lines = _pruning_section(pruned)
    if prune_lines:
        lines += ["## Pruned layers", "", *prune_lines, ""]
    scores, primaries = collect_scores(steps)
    comparisons, notes = collect_comparisons(steps) if scores else ({}, [])
    recovery, recovery_notes = collect_recovery(steps) if scores else ({}, [])
    if scores:
        table, kept = scores_table(scores, primaries, comparisons)
        lines += ["## Scores", "", "Primary metric per task with its 95% interval in square brackets (Wilson for "
                  "accuracies, bootstrap over items or perplexity windows otherwise); in parentheses the share "
                  "of the base score kept, with its paired-bootstrap 95% interval. n is the number of items "
                  "(tokens for ppl).", "", table, "", "## Differences from base", "",
                  *differences_section(comparisons, notes), ""]
        if plot_contrast(kept, run_dir / "contrast.png", comparisons, task_kinds(scores)):
            lines += ["![contrast](contrast.png)", ""]
        recovery_lines = recovery_section(recovery, recovery_notes)
        if recovery_lines:
            lines += ["## What recovery changed", "", *recovery_lines, ""]
    if "bench" in config.stages:
        lines += ["## Speed", "", *_bench_section(run_dir), ""]
    document = report_document(run_dir, config, steps, manifest, pruned, scores, primaries, comparisons,
                               notes + recovery_notes, recovery)
    lines += ["## What ran", "", _provenance_line(document), "", "| step | status | seconds |", "|---|---|---|"]
    for step in steps:
        rec = manifest.steps.get(step.name, {})
        lines.append(f"| {step.name} | {rec.get('status', 'pending')} | {rec.get('seconds', '')} |")
    total = document["total_seconds"]
    lines.append(f"| total (steps done) | | {total:.0f} ({total / 60:.1f} min) |")
    # report.json first: a report.md on disk always has the document it was rendered from beside it
    atomic_write_json(run_dir / "report.json", document)
    path = run_dir / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _provenance_line(document: dict) -> str:
    """The code versions the numbers were measured at and the one that rendered them, in one sentence."""
    def version(p: dict) -> str:
        commit = p.get("commit")
        return "an unknown commit" if commit is None else commit[:10] + (" (dirty)" if p.get("dirty") else "")

    measured = sorted({version(p) for p in document["measured_at"].values()})
    rendered = document["rendered_by"]
    text = (f"Measured at {', '.join(measured)}; " if measured else "") + f"rendered at {version(rendered)}"
    return (text + f" on {rendered.get('cpu_model')} ({rendered.get('cpu_count')} cores). Every number above is "
            "in `report.json`, with each result file's own provenance.")
