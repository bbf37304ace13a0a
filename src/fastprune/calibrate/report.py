"""Writing a calibration's results: importance.json, the angular heatmap and the BI bar chart.

Figures use matplotlib's object API on an Agg canvas (no pyplot global state, no display needed). Each
file goes to a temp name and is renamed, and importance.json is written last: its presence means done.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from fastprune.importance.schema import FIGURES, SQUARE, figure_metrics
from fastprune.utils_io import atomic_output, atomic_write_json

RESULT_FILES = ("importance.json", *FIGURES)


def _save_figure(fig, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    with atomic_output(path, suffix=".tmp.png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")


def heatmap_figure(matrix: list[list[float]], title: str, label: str):
    from matplotlib.figure import Figure

    n = len(matrix)
    fig = Figure(figsize=(6.4, 5.4))
    ax = fig.add_subplot()
    im = ax.imshow(matrix, cmap="viridis", origin="upper")
    ax.set_xlabel("boundary j (0 = embeddings, l = output of layer l-1)")
    ax.set_ylabel("boundary i")
    ax.set_title(title, fontsize=9)
    step = max(1, n // 16)
    ax.set_xticks(range(0, n, step))
    ax.set_yticks(range(0, n, step))
    fig.colorbar(im, ax=ax, label=label)
    return fig


def bars_figure(series: dict[str, list[float]], title: str, ylabel: str):
    """Side-by-side bars per layer, one colour per metric (legend: the metric's label)."""
    import numpy as np
    from matplotlib.figure import Figure

    width = 0.8 / len(series)
    x = np.arange(len(next(iter(series.values()))))
    fig = Figure(figsize=(max(6.4, 0.22 * len(x) + 2), 3.8))
    ax = fig.add_subplot()
    for k, (label, values) in enumerate(series.items()):
        ax.bar(x - 0.4 + width * (k + 0.5), values, width=width, label=label)
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend()
    return fig


def write_results(out: Path, importance: dict, plots: bool = True) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if plots:
        write_plots(out, importance)
    atomic_write_json(out / "importance.json", importance)


def write_plots(out: Path, importance: dict) -> None:
    """Every schema figure whose metrics the file holds (a square metric as a heatmap, others as bars)."""
    title = f"{importance['model']}: {importance['tokens']:,} tokens"
    for name, (figure_title, axis_label) in FIGURES.items():
        metrics = [m for m in figure_metrics(name) if importance.get(m.name) is not None]
        if not metrics:
            continue
        if metrics[0].shape == SQUARE:
            fig = heatmap_figure(importance[metrics[0].name], f"{figure_title}, {title}", axis_label)
        else:
            fig = bars_figure({m.label: importance[m.name] for m in metrics}, f"{figure_title}, {title}",
                              axis_label)
        _save_figure(fig, out / name)


def remove_results(out: Path) -> None:
    """Delete earlier results before an --overwrite run, so a crash cannot leave stale ones looking done."""
    for name in RESULT_FILES:
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
