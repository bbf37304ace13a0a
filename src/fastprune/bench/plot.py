"""``speedup.png``: measured speedup against layers removed, 95% intervals as error bars, both ideal curves.

A ratio flagged unreliable is drawn as a hollow marker and the title says how many are.
"""

from __future__ import annotations

from pathlib import Path

from fastprune.utils_io import atomic_output


def plot_speedup(rows: list[dict], path: str | Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    series: dict[tuple, list[dict]] = {}
    for row in rows:
        series.setdefault((row["backend"], row["batch_size"]), []).append(row)
    fig = Figure(figsize=(11, 4.2))
    FigureCanvasAgg(fig)  # no pyplot: no global backend to select, nothing to close
    axes = fig.subplots(1, 2, sharey=True)
    for ax, phase in zip(axes, ("prefill", "decode"), strict=True):
        ideal_done = False
        for (backend, batch), points in sorted(series.items()):
            points = sorted(points, key=lambda r: r["layers_removed"])
            xs = [p["layers_removed"] for p in points]
            ys = [p[f"speedup_{phase}"] for p in points]
            cis = [p.get(f"speedup_{phase}_ci") or {} for p in points]
            err = [[y - (c.get("low") if c.get("low") is not None else y) for y, c in zip(ys, cis, strict=True)],
                   [(c.get("high") if c.get("high") is not None else y) - y for y, c in zip(ys, cis, strict=True)]]
            line = ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=f"{backend}, batch {batch}")
            bad = [(x, y) for x, y, p in zip(xs, ys, points, strict=True) if phase in p.get("unreliable", {})]
            if bad:
                ax.plot(*zip(*bad, strict=True), "o", mfc="white", mec=line.lines[0].get_color(), ms=9)
            if not ideal_done:
                ax.plot(xs, [p["ideal_layers"] for p in points], "k--", label="ideal L/(L-n)")
                ax.plot(xs, [p["ideal_bytes"] for p in points], "k:", label="ideal bytes S*")
                ideal_done = True
        # Noise can put a ratio or its interval orders of magnitude off; keep the ideals readable and count
        # what falls outside instead of rescaling the chart to it.
        top = 1.3 * max([r["ideal_layers"] for r in rows] + [1.0])
        ax.set_ylim(0, top)
        off = sum(r[f"speedup_{phase}"] > top for r in rows)
        if off:
            ax.text(0.02, 0.97, f"{off} point(s) above {top:.2f}x: off the chart", transform=ax.transAxes,
                    va="top", fontsize=8, color="red")
        flagged = sum(phase in r.get("unreliable", {}) for r in rows)
        ax.set_title(f"{phase} speedup vs the first model (95% CI)"
                     + (f"\n{flagged} ratio(s) unreliable (hollow): see bench.json" if flagged else ""))
        ax.set_xlabel("layers removed")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("speedup (x)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    with atomic_output(path, suffix=".tmp.png") as tmp:
        fig.savefig(tmp, dpi=110)
