"""Every per-layer importance metric of ``importance.json``, defined once.

calibrate reads it to know which float64 sums to keep and how each metric comes out of them; prune reads
it to know which ``--strategy`` can rank by a metric and in which direction; the calibration report and the
study report read it for their figures and labels. A new metric is one entry of ``METRICS`` (plus, when it
needs a new measurement, the code that measures it in calibrate).

Pure Python: ``fastprune prune --help`` imports it for the ``--metric`` choices.
"""

from __future__ import annotations

from dataclasses import dataclass

# Shapes, as a function of the model's layer count L.
SQUARE = "square"  # (L+1)x(L+1): entry [i][j] relates boundary i to boundary j (0 = embeddings)
LAYERS = "layers"  # L: one value per decoder layer
BOUNDARIES = "boundaries"  # L+1: one value per boundary
WINDOWS = "windows"  # L-w+1: one value per contiguous w-layer block (w = calibrate --block)
SCALAR = "scalar"  # one number

# Directions: what a high value says about the layer (or block) it belongs to.
IMPORTANT = "important"  # high = the model needs it: rank by the lowest
REDUNDANT = "redundant"  # high = it changes little: rank by the highest

# What a metric needs from the calibration pass.
ALL_TOKENS = "all_tokens"  # boundary_stats over the hidden states of every real token
LAST_TOKEN = "last_token"  # boundary_stats over each sequence's last real token
LOSS_ABLATION = "loss_ablation"  # LM loss of the model with each block skipped (a captured trace)
BACKWARD = "backward"  # gradients of the LM loss (a full forward + backward)
WEIGHTS = "weights"  # the weights alone, once at the end

# Reductions from the summed accumulators to the reported value.
MEAN = "mean"  # sum / count
ONE_MINUS_NEXT = "one_minus_next"  # 1 - source[l][l+1] (a similarity between consecutive boundaries)
MEAN_MINUS = "mean_minus"  # sum / count - source (an increase over a baseline)
FROM_WEIGHTS = "from_weights"  # computed once from the weights, nothing summed

# The prune strategies that rank by a metric, with the metric each uses when --metric is not given.
# bi ranks single layers (a LAYERS metric, or WINDOWS measured on 1-layer blocks); block ranks contiguous
# n-layer blocks (entry [l][l+n] of a SQUARE metric, or WINDOWS measured on n-layer blocks).
DEFAULT_METRIC = {"block": "angular", "bi": "bi"}


@dataclass(frozen=True)
class Accumulation:
    """How calibrate builds a metric: sums over tokens/targets that add across batches, resumes and
    ranks, reduced once at the end.

    ``sum``/``count`` name accumulator entries; ``stat`` the ``BoundaryStats`` field added per batch
    (for ``ALL_TOKENS``/``LAST_TOKEN``; others come from the runner's extra measurements); ``source``
    the metric a derived one is computed from.
    """

    reduce: str
    needs: str
    sum: str | None = None
    count: str | None = None
    stat: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Metric:
    name: str
    shape: str
    direction: str | None  # None: describes the model, ranks nothing
    strategies: tuple[str, ...]
    accumulate: Accumulation
    help: str
    label: str  # legend / colour-bar text of its plot
    enabled_by: str | None = None  # the calibrate option that turns it on (None: always computed)
    figure: str | None = None  # file of the calibration figure that shows it

    @property
    def flag(self) -> str | None:
        """The calibrate command-line flag that turns it on."""
        return None if self.enabled_by is None else "--" + self.enabled_by.replace("_", "-")


def _mean(sum_key: str, count: str, needs: str, stat: str | None = None) -> Accumulation:
    return Accumulation(MEAN, needs, sum=sum_key, count=count, stat=stat)


_COS = "mean cosine similarity between the hidden states at boundaries i and j"
_ANG = "mean angular distance arccos(cos)/pi between the hidden states at boundaries i and j"
_BI = "block influence 1 - cos(h_l, h_l+1): how much layer l turns the hidden state"

METRICS: tuple[Metric, ...] = (
    Metric("cosine", SQUARE, REDUNDANT, ("block",), _mean("cos_sum", "weight_sum", ALL_TOKENS, "cos_sum"),
           f"{_COS} (all tokens)", "mean cos(h_i, h_j)"),
    Metric("angular", SQUARE, IMPORTANT, ("block",), _mean("ang_sum", "weight_sum", ALL_TOKENS, "ang_sum"),
           f"{_ANG} (all tokens)", "mean arccos(cos)/pi", figure="heatmap.png"),
    Metric("bi", LAYERS, IMPORTANT, ("bi",), Accumulation(ONE_MINUS_NEXT, ALL_TOKENS, source="cosine"),
           f"{_BI} (all tokens)", "BI (all tokens)", figure="bi.png"),
    Metric("cosine_last_token", SQUARE, REDUNDANT, ("block",),
           _mean("last_cos_sum", "last_weight_sum", LAST_TOKEN, "cos_sum"),
           f"{_COS} (last token of each sequence)", "mean cos(h_i, h_j), last token"),
    Metric("angular_last_token", SQUARE, IMPORTANT, ("block",),
           _mean("last_ang_sum", "last_weight_sum", LAST_TOKEN, "ang_sum"),
           f"{_ANG} (last token of each sequence)", "mean arccos(cos)/pi, last token"),
    Metric("bi_last_token", LAYERS, IMPORTANT, ("bi",),
           Accumulation(ONE_MINUS_NEXT, LAST_TOKEN, source="cosine_last_token"),
           f"{_BI} (last token of each sequence)", "BI (last token)", figure="bi.png"),
    Metric("norms", BOUNDARIES, None, (), _mean("norm_sum", "weight_sum", ALL_TOKENS, "norm_sum"),
           "mean L2 norm of the hidden state at each boundary", "mean |h|"),
    Metric("update_ratio", LAYERS, IMPORTANT, ("bi",), _mean("update_sum", "weight_sum", ALL_TOKENS, "update_sum"),
           "mean relative update |h_l+1 - h_l| / |h_l| of layer l", "|h_l+1 - h_l| / |h_l|"),
    Metric("loss_base", SCALAR, None, (), _mean("loss_base_sum", "loss_count", LOSS_ABLATION),
           "mean next-token loss of the full model (the baseline of loss_delta)", "LM loss",
           enabled_by="loss_ablation"),
    Metric("loss_delta", WINDOWS, IMPORTANT, ("bi", "block"),
           Accumulation(MEAN_MINUS, LOSS_ABLATION, sum="loss_skip_sum", count="loss_count", source="loss_base"),
           "increase of the mean next-token loss when block [l, l+w) is skipped (w = calibrate --block)",
           "LM loss increase", enabled_by="loss_ablation"),
    Metric("taylor", LAYERS, IMPORTANT, ("bi",), _mean("taylor_sum", "weight_sum", BACKWARD),
           "first-order Taylor importance: sum over layer l's weights of |w * dL/dw|, per token",
           "|w * dL/dw| per token", enabled_by="taylor"),
    Metric("magnitude", LAYERS, IMPORTANT, ("bi",), Accumulation(FROM_WEIGHTS, WEIGHTS),
           "L2 norm of all weights of layer l (a data-free baseline)", "|W_l|", enabled_by="taylor"),
)

# Calibration figures: file -> (title, y/colour-bar axis text). A figure shows every metric naming it.
FIGURES = {
    "heatmap.png": ("angular distance", "mean arccos(cos)/pi"),
    "bi.png": ("block influence", "1 - cos(h_l, h_l+1)"),
}

# What each calibrate option adds (its --help text).
OPTION_HELP = {
    "loss_ablation": "also measure the LM-loss increase when each layer (or --block) is skipped",
    "taylor": "also first-order Taylor importance (needs a backward pass) and weight magnitudes",
}

_BY_NAME = {m.name: m for m in METRICS}


def metric_names() -> tuple[str, ...]:
    return tuple(_BY_NAME)


def get_metric(name: str) -> Metric | None:
    return _BY_NAME.get(name)


def rankable_names() -> tuple[str, ...]:
    """The metrics some prune strategy ranks by (the ``prune --metric`` choices)."""
    return tuple(m.name for m in METRICS if m.strategies)


def metrics_for(strategy: str) -> tuple[str, ...]:
    return tuple(m.name for m in METRICS if strategy in m.strategies)


def enabled_metrics(options: dict[str, bool]) -> tuple[Metric, ...]:
    """The metrics a calibration with these options (``{"taylor": True, ...}``) computes."""
    return tuple(m for m in METRICS if m.enabled_by is None or options.get(m.enabled_by))


def figure_metrics(figure: str) -> tuple[Metric, ...]:
    return tuple(m for m in METRICS if m.figure == figure)


def metric_option_help() -> str:
    """``prune --metric`` help: what each strategy can rank by (its default first) and in which direction."""
    parts = []
    for strategy, default in DEFAULT_METRIC.items():
        names = [f"{default} (default)", *(n for n in metrics_for(strategy) if n != default)]
        parts.append(f"{strategy}: {', '.join(names)}")
    redundant = [m.name for m in METRICS if m.strategies and m.direction == REDUNDANT]
    windows = [m.name for m in METRICS if m.strategies and m.shape == WINDOWS]
    return "; ".join(parts) + (
        f". The lowest values are dropped, the highest for {', '.join(redundant)} (high = redundant). "
        f"{', '.join(windows)}: bi needs calibrate --block 1, block needs --block equal to the layers dropped"
    )


def expected_length(shape: str, num_layers: int, window: int = 1) -> int | None:
    """Entries a metric of ``shape`` has for ``num_layers`` layers (rows for SQUARE; None for SCALAR)."""
    return {
        SQUARE: num_layers + 1,
        LAYERS: num_layers,
        BOUNDARIES: num_layers + 1,
        WINDOWS: num_layers - window + 1,
    }.get(shape)


def dims(shape: str, num_layers: int, window: int = 1) -> tuple[int, ...]:
    """The tensor shape of a metric (and of the sum it is accumulated in)."""
    size = expected_length(shape, num_layers, window)
    return () if shape == SCALAR else (size, size) if shape == SQUARE else (size,)
