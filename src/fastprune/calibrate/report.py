"""Writing a calibration's results: importance.json, the angular heatmap and the BI bar chart.

Figures use matplotlib's object API on an Agg canvas (no pyplot global state, no display needed). Each
file goes to a temp name and is renamed, and importance.json is written last: its presence means done.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from fastprune.utils_io import atomic_output, atomic_write_json

RESULT_FILES = ("importance.json", "heatmap.png", "bi.png")


def _save_figure(fig, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    with atomic_output(path, suffix=".tmp.png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")


def heatmap_figure(angular: list[list[float]], title: str):
    from matplotlib.figure import Figure

    n = len(angular)
    fig = Figure(figsize=(6.4, 5.4))
    ax = fig.add_subplot()
    im = ax.imshow(angular, cmap="viridis", origin="upper")
    ax.set_xlabel("boundary j (0 = embeddings, l = output of layer l-1)")
    ax.set_ylabel("boundary i")
    ax.set_title(title, fontsize=9)
    step = max(1, n // 16)
    ax.set_xticks(range(0, n, step))
    ax.set_yticks(range(0, n, step))
    fig.colorbar(im, ax=ax, label="mean arccos(cos)/pi")
    return fig


def bi_figure(bi: list[float], bi_last: list[float], title: str):
    import numpy as np
    from matplotlib.figure import Figure

    x = np.arange(len(bi))
    fig = Figure(figsize=(max(6.4, 0.22 * len(bi) + 2), 3.8))
    ax = fig.add_subplot()
    ax.bar(x - 0.2, bi, width=0.4, label="BI (all tokens)")
    ax.bar(x + 0.2, bi_last, width=0.4, label="BI (last token)")
    ax.set_xlabel("layer")
    ax.set_ylabel("1 - cos(h_l, h_l+1)")
    ax.set_title(title, fontsize=9)
    ax.legend()
    return fig


def write_results(out: Path, importance: dict, plots: bool = True) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if plots:
        write_plots(out, importance)
    atomic_write_json(out / "importance.json", importance)


def write_plots(out: Path, importance: dict) -> None:
    title = f"{importance['model']}: {importance['tokens']:,} tokens"
    _save_figure(heatmap_figure(importance["angular"], f"angular distance, {title}"), out / "heatmap.png")
    _save_figure(
        bi_figure(importance["bi"], importance["bi_last_token"], f"block influence, {title}"), out / "bi.png"
    )


def remove_results(out: Path) -> None:
    """Delete earlier results before an --overwrite run, so a crash cannot leave stale ones looking done."""
    for name in RESULT_FILES:
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
