"""The README's measured-numbers tables, produced from the result JSONs in benchmarks/results/.

    python benchmarks/readme_tables.py                     # print the generated blocks
    python benchmarks/readme_tables.py --write README.md   # replace the blocks between their markers
    python benchmarks/readme_tables.py --check README.md   # exit 1 if the README disagrees with the JSONs

Two blocks: speed (from benchmarks/results/) and the quality study (from the committed study's report.json,
docs/results/study-smollm2/).

Every ratio is quoted with its 95% interval and n where the JSON has samples; a ratio the JSON flags
unreliable carries a ``!`` and its reason is listed under the table. Kernel microbenchmarks record medians
only and say so. Nothing here is typed by hand: tests/benchmarks/test_readme_tables.py checks the README.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

BEGIN, END = "<!-- measured:begin (benchmarks/readme_tables.py) -->", "<!-- measured:end -->"
STUDY_BEGIN, STUDY_END = "<!-- study:begin (benchmarks/readme_tables.py) -->", "<!-- study:end -->"
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
STUDY = ROOT / "docs" / "results" / "study-smollm2" / "report.json"


STALE: list[str] = []  # files found without provenance, filled by render()


def _load(results: Path, name: str) -> dict | None:
    """The result document, or None when absent or written before result files recorded provenance (such a
    number cannot be traced to a commit or a load, so it is listed as stale instead of quoted)."""
    path = results / name
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    if "provenance" not in doc:
        STALE.append(str(path.relative_to(results)))
        return None
    return doc


def _ci(c: dict | None, digits: int = 2) -> str:
    if not c:
        return "-"
    text = f"{c['value']:.{digits}f}x"
    if c.get("low") is not None and c.get("method") != "reference":
        text += f" [{c['low']:.{digits}f}, {c['high']:.{digits}f}]"
    return text


def _flag(reasons, notes: list[str], where: str) -> str:
    if not reasons:
        return ""
    notes.append(f"{where}: {'; '.join(dict.fromkeys(reasons))}")
    return f" !{len(notes)}"


def _prov(doc: dict) -> str:
    p = doc.get("provenance") or {}
    load = (doc.get("noise") or {}).get("load_before"), (doc.get("noise") or {}).get("load_after")
    commit = (p.get("commit") or "?")[:8] + ("+dirty" if p.get("dirty") else "")
    text = f"{commit}, {p.get('threads')} threads"
    if load[0] is not None:
        text += f", load {load[0][0]:.1f}->{load[1][0]:.1f}"
    elif p.get("load_average"):
        text += f", load {p['load_average'][0]:.1f}"
    return text


def _busy(doc: dict) -> list[str]:
    """The machine-noise reasons a result file carries; from its provenance's load alone where it has no
    before/after record (kernel microbenchmarks)."""
    if doc.get("noise"):
        return list(doc["noise"]["reasons"])
    p = doc.get("provenance") or {}
    load, threads = p.get("load_average"), p.get("threads")
    if load and threads and load[0] > threads:
        return [f"load average {load[0]:.2f} when written exceeds the {threads} threads in use"]
    return []


def _generate_rows(doc: dict, label: str, notes: list[str]) -> list[str]:
    out = []
    for row in doc["results"]:
        fastest = row.get("fastest_hf")
        if not fastest:
            continue
        vs = row["vs_hf"][fastest]
        t, m = vs["tokens_per_s"], vs["ms_per_step"]
        flag = _flag(t["unreliable"] + m["unreliable"], notes, f"{label}, batch {row['batch']}")
        out.append(
            f"| {label}, batch {row['batch']}: engine vs the fastest HF ({fastest}); tokens/s incl. prefill / "
            f"decode step | {_ci(t)} / {_ci(m)} (n={t['n']}; {row['fastprune']['ms_per_step']:.1f} vs "
            f"{row[fastest]['ms_per_step']:.1f} ms/step; HF padding {100 * row['padded_token_share']:.0f}%)"
            f"{flag} | {_prov(doc)} |")
    return out


def _peer_rows(doc: dict, label: str, notes: list[str]) -> list[str]:
    """The engine against each peer that was measured (same prompt ids, forced lengths), per batch size."""
    out = []
    for row in doc["results"]:
        for name, vs in row.get("vs_peers", {}).items():
            t, m = vs["tokens_per_s"], vs["ms_per_step"]
            flag = _flag(t["unreliable"] + m["unreliable"], notes, f"{label}, batch {row['batch']}, vs {name}")
            out.append(
                f"| {label}, batch {row['batch']}: engine vs {row[name].get('setup', name)}; tokens/s incl. "
                f"prefill / decode step | {_ci(t)} / {_ci(m)} (n={t['n']}; {row['fastprune']['ms_per_step']:.1f} "
                f"vs {row[name]['ms_per_step']:.1f} ms/step){flag} | {_prov(doc)} |")
    return out


def render(results: Path = RESULTS) -> str:
    STALE.clear()
    notes: list[str] = []
    rows = ["| what | result [95% CI] | measured at |", "|---|---|---|"]
    bs = _load(results, "boundary_stats-cpu.json")
    if bs:
        by = {r["backend"]: r for r in bs["rows"]}
        if "native" in by and "torch" in by:
            n = by["native"]
            rows.append(f"| boundary statistics kernel, K={n['K']}, N={n['N']}, D={n['D']} {n['dtype']}: native C++ "
                        f"vs torch reference (median of calls, no interval) | {1e3 * n['median_s']:.1f} vs "
                        f"{1e3 * by['torch']['median_s']:.1f} ms ({n['speedup_vs_torch']:.1f}x)"
                        f"{_flag(_busy(bs), notes, 'boundary statistics kernel')} | {_prov(bs)} |")
    cal = _load(results, "calibrate-cpu-smollm2.json")
    if cal:
        h = cal["headline_vs_forward_without_lm_head"]
        tps = cal["throughput"]["tokens_per_s"]
        rows.append(f"| calibration vs the HF forward without LM head (what calibration needs), same batches "
                    f"| {_ci(h)} (n={h['n']}; {tps['calibration']:.0f} vs {tps['hf_forward_without_lm_head']:.0f} "
                    f"tok/s; with logits {tps['hf_forward_with_logits']:.0f})"
                    f"{_flag(h['unreliable'], notes, 'calibration ratio')} | {_prov(cal)} |")
        if "memory" in cal:
            mem = cal["memory"]
            peaks = ", ".join(f"{r['tokens'] // 1024}k: {r['peak_rss_after_load_mib']:.0f} MiB" for r in mem["runs"])
            verdict = {True: "flat", False: "NOT flat", None: "no verdict"}[mem["flat"]]
            rows.append(f"| calibration peak RSS after model load | {peaks} ({verdict} within "
                        f"{100 * mem['flat_within']:.0f}%: spread {100 * mem['spread']:.1f}%) | {_prov(cal)} |")
        k = cal["kernel"]
        share = 100 * k["fraction_of_copy_bandwidth"]
        rows.append(f"| statistics kernel on one batch vs a preallocated `copy_` of the same bytes | "
                    f"{k['gb_per_s']:.1f} vs {k['copy_gb_per_s']:.1f} GB/s ({share:.0f}%)"
                    f"{_flag(_busy(cal), notes, 'statistics kernel')} | {_prov(cal)} |")
    gen = _load(results, "generate-cpu-smollm2.json")
    if gen:
        rows += _generate_rows(gen, f"greedy, {gen['results'][0]['new_tokens']} forced tokens", notes)
        if "continuous" in gen:
            c = gen["continuous"]
            rows.append(f"| continuous batching: {c['requests']} requests, {c['new_tokens_range'][0]}-"
                        f"{c['new_tokens_range'][1]} new tokens, {c['slots']} slots (one run) | "
                        f"{c['tokens_per_s']:.0f} tok/s{_flag(_busy(gen), notes, 'continuous batching')} | "
                        f"{_prov(gen)} |")
        rows += _peer_rows(gen, f"greedy, {gen['results'][0]['new_tokens']} forced tokens", notes)
        skipped = [f"{name}: {p['skipped']}" for name, p in gen.get("peers", {}).items() if p["skipped"]]
        if skipped:
            rows.append(f"| peers (same prompts) | not measured: {'; '.join(skipped)} | {_prov(gen)} |")
    paper = _load(results, "generate-cpu-smollm2-paper-sampling.json")
    if paper:
        rows += _generate_rows(paper, "paper sampling (T 0.9, top-p 0.95)", notes)
        rows += _peer_rows(paper, "paper sampling (T 0.9, top-p 0.95)", notes)
    ops = _load(results, "decode_ops-cpu.json")
    if ops:
        lin = " / ".join(f"{r['native_ms']:.1f} vs {r['torch_ms']:.1f} ms ({r['speedup']:.1f}x)"
                         for r in ops["fused_linears"])
        att = " / ".join(f"{r['native_ms']:.2f} vs {r['torch_ms']:.2f} ms ({r['speedup']:.1f}x)"
                         for r in ops["decode_attention"])
        which = "/".join(str(r["rows"]) for r in ops["fused_linears"])
        rows.append(f"| decode-step projections, whole model, native vs torch, {which} rows (medians, no "
                    f"interval) | {lin}{_flag(_busy(ops), notes, 'decode-step ops')} | {_prov(ops)} |")
        rows.append(f"| decode attention, {ops['layers']} layers, native vs torch, {which} rows (medians) | {att}"
                    f"{_flag(_busy(ops), notes, 'decode attention')} | {_prov(ops)} |")
    samp = _load(results, "sampling-cpu.json")
    if samp:
        med = {(b["params"]["impl"], "x".join(map(str, b["params"]["shape"]))): b["stats"]["median"]
               for b in samp["benchmarks"] if b.get("params") and "impl" in b["params"]}
        rounds = min((b["stats"]["rounds"] for b in samp["benchmarks"]), default=0)
        parts = []
        for shape in dict.fromkeys(shape for _, shape in med):
            ref, nat = med.get(("sample_ref", shape)), med.get(("native", shape))
            if ref and nat:
                parts.append(f"{shape}: {1e3 * nat:.2f} vs {1e3 * ref:.1f} ms ({ref / nat:.1f}x)")
        prov = samp.get("provenance") or {}
        where = _prov(samp) if prov else (samp.get("commit_info") or {}).get("id", "?")[:8]
        busy = _busy(samp)
        rows.append(f"| sampling (T 0.9, top-p 0.95), native vs the torch sort (pytest-benchmark medians of >= "
                    f"{rounds} rounds, no interval) | {' / '.join(parts)}{_flag(busy, notes, 'sampling')} | {where} |")
    lines = rows if len(rows) > 2 else []
    depth = _load(results, "bench-cpu-smollm2/bench.json")
    if depth:
        s = depth["settings"]
        lines += ["", f"Speed from depth (`fastprune bench {s['models'][0]} --drop-layers "
                  f"{','.join(map(str, s['drop_layers']))} --batch-sizes {','.join(map(str, s['batch_sizes']))} "
                  f"--prompt-len {s['prompt_len']} --new-tokens {s['new_tokens']} --repeats {s['repeats']} "
                  f"--rounds {s['rounds']}`; engine rows; ratios of medians over n interleaved samples with their "
                  f"95% paired bootstrap interval; measured at {_prov(depth)}):", "",
                  "| layers | batch | n | prefill speedup | decode speedup | decode ms/step | ideal L/(L-n) "
                  "| ideal bytes S* |", "|---|---|---|---|---|---|---|---|"]
        for r in depth["rows"]:
            if r["backend"] != "engine":
                continue
            layers = f"{r['num_layers']}" + (f" (-{r['layers_removed']})" if r["layers_removed"] else "")
            where = f"depth {layers} layers, batch {r['batch_size']}"
            pf = _flag(r["unreliable"].get("prefill"), notes, f"{where}, prefill")
            dc = _flag(r["unreliable"].get("decode"), notes, f"{where}, decode")
            lines.append(f"| {layers} | {r['batch_size']} | {r['decode_step_s']['n']} | "
                         f"{_ci(r['speedup_prefill_ci'])}{pf} | {_ci(r['speedup_decode_ci'])}{dc} | "
                         f"{1e3 * r['decode_step_s']['median']:.1f} | {r['ideal_layers']:.2f} | "
                         f"{r['ideal_bytes']:.2f} |")
    if STALE:
        lines += ["", f"Not quoted: {', '.join(f'`{x}`' for x in STALE)} predate(s) provenance in result files "
                  "(no commit or load recorded); `benchmarks/run_all.sh` regenerates them."]
    if notes:
        lines += ["", f"**{len(notes)} number(s) flagged unreliable** (`!k`) by the JSONs' own checks; read them "
                  "as noise, not speed:", ""]
        lines += [f"{i}. {note}" for i, note in enumerate(notes, 1)]
    return "\n".join([BEGIN, *lines, END])


def _interval(value: float, ci, digits: int = 3) -> str:
    if ci is None or any(x is None or not math.isfinite(x) for x in ci):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def _retention(c: dict) -> str:
    lo, hi = c["retention_ci95"]
    if not math.isfinite(c["retention"]):
        return "n/a"
    high = "inf" if math.isinf(hi) else f"{100 * hi:.0f}"
    return f"{100 * c['retention']:.0f}% [{100 * lo:.0f}, {high}]"


def _difference_rows(comparisons: dict, tasks: list[str], kept: bool) -> tuple[list[str], list[str], int]:
    """One table row per model (a cell per task: the difference with its interval, and with ``kept`` the
    share of the reference kept; bold when resolved), the "model on task" names resolved, the cells filled."""
    rows, resolved, total = [], [], 0
    for model, by_task in comparisons.items():
        cells = []
        for task in tasks:
            c = by_task.get(task)
            if c is None:
                cells.append("-")
                continue
            total += 1
            text = f"{c['difference']:+.3f} [{c['difference_ci95'][0]:+.3f}, {c['difference_ci95'][1]:+.3f}]"
            if kept:
                text += f", kept {_retention(c)}"
            if c["resolved"]:
                resolved.append(f"{model} on {task}")
                text = f"**{text}**"
            cells.append(text)
        rows.append(f"| {model} | " + " | ".join(cells) + " |")
    return rows, resolved, total


def render_study(path: Path = STUDY) -> str:
    """The study's scores and every model-vs-base difference, from its report.json."""
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    if not path.is_file():
        return "\n".join([STUDY_BEGIN, f"_no study committed: {rel} is absent_", STUDY_END])
    doc = json.loads(path.read_text())
    base = doc["scores"]["base"]
    tasks = [t for t in base if t in doc["primaries"]]
    commits = sorted({(p.get("commit") or "?")[:8] + ("+dirty" if p.get("dirty") else "")
                      for p in doc["measured_at"].values()})
    threads = sorted({p.get("threads") for p in doc["measured_at"].values()} - {None})
    lines = [f"From [`{rel.parent}/report.md`]({rel.parent}/report.md) (numbers: `{rel}`), measured at "
             f"{', '.join(commits)} with {'/'.join(map(str, threads))} threads; the {len(doc['steps'])} steps took "
             f"{doc['total_seconds'] / 60:.0f} min on this 2-core VM. Each cell: the model's score minus the "
             "base's on the same items, its paired 95% interval, then the share of the base score kept with "
             "its paired interval; **bold** = resolved at 95% (exact McNemar for accuracies, paired "
             "permutation otherwise), plain = this n cannot tell it from noise.", "",
             "| model | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    cells = []
    for task in tasks:
        metric = doc["primaries"][task]["metric"]
        entry = base[task]
        chance = entry.get("chance", {}).get(metric)
        cells.append(f"{metric} {_interval(entry[metric], entry.get('ci95', {}).get(metric))}, n={entry['n']}"
                     + ("" if chance is None else f", chance {100 * chance:.0f}%"))
    lines.append("| base | " + " | ".join(cells) + " |")
    rows, resolved, total = _difference_rows(doc["comparisons"], tasks, kept=True)
    floors = {t: [c[t]["min_resolvable_difference"] for c in doc["comparisons"].values() if t in c] for t in tasks}
    floor_text = ", ".join(f"{t} {min(v):.3f}-{max(v):.3f}" for t, v in floors.items() if v)
    lines += [*rows, "", f"Resolved at 95%: {len(resolved)} of {total} differences from the base. The smallest "
              f"difference each comparison could resolve at its n and observed discordance: {floor_text}."]
    recovery = doc.get("recovery") or {}
    if recovery:
        rows, won, count = _difference_rows(recovery, tasks, kept=False)
        lines += ["", "What recovery changed: each recovered model minus the pruned model it was finetuned from, "
                  "same items, same tests (bold = resolved at 95%):", "",
                  "| recovered | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks), *rows, "",
                  f"Resolved at 95%: {len(won)} of {count} recovery differences"
                  + (f" ({', '.join(won)})." if won else ".")]
    return "\n".join([STUDY_BEGIN, *lines, STUDY_END])


def replace_block(readme: str, block: str, begin: str = BEGIN, end: str = END) -> str:
    if begin not in readme or end not in readme:
        raise SystemExit(f"README has no {begin} ... {end} block to replace")
    head, rest = readme.split(begin, 1)
    return head + block + rest.split(end, 1)[1]


def replace_blocks(readme: str, results: Path = RESULTS, study: Path = STUDY) -> str:
    readme = replace_block(readme, render(results))
    return replace_block(readme, render_study(study), STUDY_BEGIN, STUDY_END)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--study", type=Path, default=STUDY, help="the study's report.json")
    ap.add_argument("--write", type=Path, help="README to update in place")
    ap.add_argument("--check", type=Path, help="README to compare; exit 1 when it disagrees")
    args = ap.parse_args(argv)
    if args.check:
        current = args.check.read_text()
        if replace_blocks(current, args.results, args.study) != current:
            print(f"{args.check} disagrees with {args.results} or {args.study}: run "
                  "benchmarks/readme_tables.py --write", file=sys.stderr)
            return 1
        return 0
    if args.write:
        text = replace_blocks(args.write.read_text(), args.results, args.study)
        tmp = args.write.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(args.write)
        return 0
    print(render(args.results))
    print(render_study(args.study))
    return 0


if __name__ == "__main__":
    sys.exit(main())
