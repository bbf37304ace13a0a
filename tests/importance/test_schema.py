"""The metric schema is self-consistent: every entry can be computed, validated, ranked and plotted."""

from __future__ import annotations

import pytest

from fastprune.importance import schema
from fastprune.importance.schema import (
    DEFAULT_METRIC,
    FIGURES,
    METRICS,
    OPTION_HELP,
    SQUARE,
    WINDOWS,
    dims,
    enabled_metrics,
    expected_length,
    get_metric,
    metric_names,
    metric_option_help,
    metrics_for,
    rankable_names,
)

SHAPES = (schema.SQUARE, schema.LAYERS, schema.BOUNDARIES, schema.WINDOWS, schema.SCALAR)
NEEDS = (schema.ALL_TOKENS, schema.LAST_TOKEN, schema.LOSS_ABLATION, schema.BACKWARD, schema.WEIGHTS)
REDUCES = (schema.MEAN, schema.ONE_MINUS_NEXT, schema.MEAN_MINUS, schema.FROM_WEIGHTS)


def test_names_are_unique_and_looked_up():
    assert len(set(metric_names())) == len(METRICS)
    assert all(get_metric(m.name) is m for m in METRICS)
    assert get_metric("nope") is None


@pytest.mark.parametrize("metric", METRICS, ids=lambda m: m.name)
def test_every_entry_is_complete(metric):
    assert metric.shape in SHAPES and metric.accumulate.needs in NEEDS and metric.accumulate.reduce in REDUCES
    assert metric.help and metric.label
    # A metric that ranks layers must say which end is the redundant one; one that ranks nothing must not.
    assert (metric.direction in (schema.IMPORTANT, schema.REDUNDANT)) == bool(metric.strategies)
    assert set(metric.strategies) <= set(DEFAULT_METRIC)
    # bi ranks single layers, block ranks n-layer spans: only shapes that have such entries qualify.
    if "bi" in metric.strategies:
        assert metric.shape in (schema.LAYERS, WINDOWS)
    if "block" in metric.strategies:
        assert metric.shape in (SQUARE, WINDOWS)
    assert metric.enabled_by is None or metric.enabled_by in OPTION_HELP
    assert metric.figure is None or metric.figure in FIGURES


@pytest.mark.parametrize("metric", METRICS, ids=lambda m: m.name)
def test_accumulation_refers_to_what_exists_before_it(metric):
    acc = metric.accumulate
    earlier = metric_names()[: metric_names().index(metric.name)]
    if acc.reduce in (schema.MEAN, schema.MEAN_MINUS):
        assert acc.sum and acc.count  # a sum and the count it is divided by
    if acc.reduce in (schema.ONE_MINUS_NEXT, schema.MEAN_MINUS):
        assert acc.source in earlier  # computed from a metric reduced before it
        assert get_metric(acc.source).enabled_by == metric.enabled_by
    if acc.reduce == schema.ONE_MINUS_NEXT:
        assert get_metric(acc.source).shape == SQUARE and metric.shape == schema.LAYERS
    if acc.reduce == schema.FROM_WEIGHTS:
        assert acc.sum is None and acc.needs == schema.WEIGHTS
    if acc.needs in (schema.ALL_TOKENS, schema.LAST_TOKEN) and acc.sum:
        assert acc.stat  # the BoundaryStats field added per batch
    # sums are keyed by name in the resumable state: two metrics never share one
    others = [m.accumulate.sum for m in METRICS if m is not metric]
    assert acc.sum is None or acc.sum not in others


def test_defaults_are_rankable_by_their_strategy():
    for strategy, default in DEFAULT_METRIC.items():
        assert default in metrics_for(strategy)
    assert set(rankable_names()) == {n for s in DEFAULT_METRIC for n in metrics_for(s)}
    # the fix of issue 15: every per-layer metric calibrate computes can rank layers
    for name in ("bi", "bi_last_token", "update_ratio", "loss_delta", "taylor", "magnitude"):
        assert name in metrics_for("bi")
    assert {n for n in metrics_for("block") if get_metric(n).shape == SQUARE} == {
        m.name for m in METRICS if m.shape == SQUARE
    }


def test_enabled_metrics_follow_the_options():
    always = {m.name for m in enabled_metrics({})}
    assert {"cosine", "angular", "bi", "norms", "update_ratio"} <= always
    assert not always & {"taylor", "magnitude", "loss_delta", "loss_base"}
    with_taylor = {m.name for m in enabled_metrics({"taylor": True})}
    assert with_taylor - always == {"taylor", "magnitude"}
    assert {m.name for m in enabled_metrics({"loss_ablation": True})} - always == {"loss_base", "loss_delta"}
    assert get_metric("taylor").flag == "--taylor" and get_metric("loss_delta").flag == "--loss-ablation"
    assert get_metric("bi").flag is None


def test_shapes_for_a_layer_count():
    assert expected_length(SQUARE, 6) == 7 and dims(SQUARE, 6) == (7, 7)
    assert dims(schema.LAYERS, 6) == (6,) and dims(schema.BOUNDARIES, 6) == (7,)
    assert dims(WINDOWS, 6, window=2) == (5,) and dims(WINDOWS, 6) == (6,)
    assert dims(schema.SCALAR, 6) == () and expected_length(schema.SCALAR, 6) is None


def test_figures_show_metrics_of_one_shape():
    for name in FIGURES:
        shown = schema.figure_metrics(name)
        assert shown, f"{name} shows no metric"
        assert len({m.shape for m in shown}) == 1
        assert shown[0].shape != SQUARE or len(shown) == 1  # a heatmap shows one matrix


def test_option_help_names_every_rankable_metric_and_the_defaults():
    text = metric_option_help()
    for name in rankable_names():
        assert name in text
    for strategy, default in DEFAULT_METRIC.items():
        assert f"{strategy}: {default} (default)" in text
    assert "cosine" in text.split("the highest for")[1]
