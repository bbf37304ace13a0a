"""``speedup.png``: measured speedup against layers removed, with both ideal curves."""

from __future__ import annotations

from pathlib import Path


def plot_speedup(rows: list[dict], path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    series: dict[tuple, list[dict]] = {}
    for row in rows:
        series.setdefault((row["backend"], row["batch_size"]), []).append(row)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, phase in zip(axes, ("prefill", "decode"), strict=True):
        ideal_done = False
        for (backend, batch), points in sorted(series.items()):
            points = sorted(points, key=lambda r: r["layers_removed"])
            xs = [p["layers_removed"] for p in points]
            ax.plot(xs, [p[f"speedup_{phase}"] for p in points], marker="o", label=f"{backend}, batch {batch}")
            if not ideal_done:
                ax.plot(xs, [p["ideal_layers"] for p in points], "k--", label="ideal L/(L-n)")
                ax.plot(xs, [p["ideal_bytes"] for p in points], "k:", label="ideal bytes S*")
                ideal_done = True
        ax.set_title(f"{phase} speedup vs the first model")
        ax.set_xlabel("layers removed")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("speedup (x)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    tmp = Path(path).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
