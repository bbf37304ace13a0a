"""Speedup rows: each ratio with its interval, the verdict on whether to trust it, and the printed table.

Ratios are taken within one (backend, batch size) series against its first model, from the pooled samples
the suite stores on each row (``row["samples"]``). Besides the width/CV/load checks of
``fastprune.bench.stats``, two outcomes are physically implausible and flagged as noise: a whole interval
above the layer ideal L/(L-n) (removing n of L layers cannot save more than their share of the work) and a
pruned model whose whole interval lies below 1 (it does strictly less work than its base).
"""

from __future__ import annotations

from fastprune.bench.stats import (
    MAX_CV,
    MAX_INTERVAL_WIDTH,
    format_ratio,
    ratio_interval,
    ratio_verdict,
)

PHASES = (("prefill", "prefill_s"), ("decode", "decode_step_s"))


def _plausibility(interval: dict, row: dict) -> list[str]:
    reasons = []
    if interval["low"] is None:
        return reasons
    if interval["low"] > row["ideal_layers"] * 1.001:
        reasons.append(f"whole interval above the ideal L/(L-n) = {row['ideal_layers']:.3f}: not possible, noise")
    if row["layers_removed"] > 0 and interval["high"] < 1.0:
        reasons.append("a model with fewer layers measured slower than its base: noise")
    return reasons


def add_speedups(rows: list[dict], noise_reasons: list[str], max_interval_width: float = MAX_INTERVAL_WIDTH,
                 max_cv: float = MAX_CV, seed: int = 0) -> None:
    """Fill ``speedup_{phase}`` (median ratio), ``speedup_{phase}_ci``, ``unreliable`` and ``reliable`` on
    every row, plus engine-vs-HF decode ratios where both were measured for the same model and batch."""
    base: dict[tuple, dict] = {}
    for row in rows:
        ref = base.setdefault((row["backend"], row["batch_size"]), row)
        row["unreliable"] = {}
        for phase, key in PHASES:
            cv_ref, cv_row = ref[key]["cv"], row[key]["cv"]
            if row is ref:
                interval = {"value": 1.0, "low": 1.0, "high": 1.0, "n_base": ref[key]["n"], "n": row[key]["n"],
                            "confidence": 0.95, "method": "reference"}
                reasons = list(noise_reasons) + [
                    f"CV {100 * cv_row:.0f}% of its samples (limit {100 * max_cv:.0f}%)"
                    for cv in (cv_row,) if cv is not None and cv > max_cv]
            else:
                interval = ratio_interval(ref["samples"][key], row["samples"][key], seed=seed)
                reasons = ratio_verdict(interval, cv_ref, cv_row, noise_reasons, max_interval_width, max_cv)
                reasons += _plausibility(interval, row)
            for side, who in ([(row, "this model")] if row is ref else [(ref, "base"), (row, "this model")]):
                bad = side[key].get("nonpositive", 0)
                if bad:
                    reasons.append(f"{who}: {bad} of {side[key]['n']} samples ran N tokens no slower than 1 "
                                   "(decode time <= 0: disturbed)")
            row[f"speedup_{phase}"] = interval["value"]
            row[f"speedup_{phase}_ci"] = interval
            if reasons:
                row["unreliable"][phase] = reasons
        row["reliable"] = not row["unreliable"]
        row["decode_vs_ideal_bytes"] = row["speedup_decode"] / row["ideal_bytes"]
    by_point = {(r["model"], r["batch_size"], r["backend"]): r for r in rows}
    for row in rows:
        if row["backend"] != "engine":
            continue
        versus = {}
        for (model, batch, backend), other in by_point.items():
            if model == row["model"] and batch == row["batch_size"] and backend.startswith("hf"):
                versus[backend] = ratio_interval(other["samples"]["decode_step_s"], row["samples"]["decode_step_s"],
                                                 seed=seed)
        if versus:
            fastest = min(versus, key=lambda b: by_point[(row["model"], row["batch_size"], b)]
                          ["decode_step_s"]["median"])
            row["engine_vs_hf_decode_ci"] = versus
            row["fastest_hf"] = fastest
            row["engine_vs_hf_decode"] = versus[fastest]["value"]


def reasons_lines(rows: list[dict]) -> list[str]:
    """One line per flagged ratio: which row, which phase, and why."""
    lines = []
    for r in rows:
        for phase, reasons in r.get("unreliable", {}).items():
            lines.append(f"{r['model']} | {r['backend']} | batch {r['batch_size']} | {phase}: {'; '.join(reasons)}")
    return lines


def format_table(rows: list[dict]) -> str:
    head = (f"{'model':<30} {'L':>3} {'backend':<10} {'batch':>5} {'n':>3} {'TTFT ms':>9} {'ms/step':>8} "
            f"{'tok/s':>8} {'x prefill [95% CI]':>24} {'x decode [95% CI]':>24} {'ideal L':>8} {'ideal S*':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        flagged = r.get("unreliable", {})
        lines.append(
            f"{r['model'][:30]:<30} {r['num_layers']:>3} {r['backend']:<10} {r['batch_size']:>5} "
            f"{r['decode_step_s']['n']:>3} {r['prefill_s']['median'] * 1e3:>9.1f} "
            f"{r['decode_step_s']['median'] * 1e3:>8.1f} {r['decode_tokens_per_s']:>8.1f} "
            f"{format_ratio(r['speedup_prefill_ci'], 'prefill' not in flagged):>24} "
            f"{format_ratio(r['speedup_decode_ci'], 'decode' not in flagged):>24} "
            f"{r['ideal_layers']:>8.3f} {r['ideal_bytes']:>8.3f}"
        )
    notes = reasons_lines(rows)
    if notes:
        lines += ["", "! unreliable (do not read these ratios as speedups):", *[f"  {x}" for x in notes]]
    return "\n".join(lines)
