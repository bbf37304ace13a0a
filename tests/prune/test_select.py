"""Selection strategies reading importance statistics, and the choose_layers front door."""

from __future__ import annotations

import math

import pytest

from fastprune.errors import FastpruneError
from fastprune.importance.reader import load_importance
from fastprune.prune.api import choose_layers
from fastprune.prune.select import parse_layer_list, resolve_count, select_block, select_lowest, select_reverse


def test_resolve_count():
    assert resolve_count(30, drop=8) == 8
    assert resolve_count(30, ratio=0.25) == 8  # 7.5 rounds to 8 (banker's rounding on .5 -> even)
    assert resolve_count(10, ratio=0.34) == 3
    for kwargs, message in [
        ({}, "exactly one"),
        ({"drop": 1, "ratio": 0.1}, "exactly one"),
        ({"drop": 0}, "at least 1"),
        ({"drop": 10}, "keep at least one"),
        ({"ratio": 1.0}, "between 0 and 1"),
        ({"ratio": 0.01}, "rounds to 0"),
    ]:
        with pytest.raises(FastpruneError, match=message):
            resolve_count(10, **kwargs)


def test_parse_layer_list():
    assert parse_layer_list("21, 22,-1") == [21, 22, -1]
    with pytest.raises(FastpruneError, match="empty"):
        parse_layer_list(" , ")
    with pytest.raises(FastpruneError, match="integer"):
        parse_layer_list("1,a")


def test_block_picks_smallest_angular_block(tiny, importance_file):
    loaded = tiny("qwen3", layers=6)
    path = importance_file(loaded)
    imp = load_importance(path)
    angular = imp.data["angular"]
    for n in (1, 2, 3):
        chosen = select_block(imp, n)
        start = chosen[0]
        assert chosen == list(range(start, start + n))
        assert angular[start][start + n] == min(angular[s][s + n] for s in range(6 - n + 1))
    # Make one block clearly the most redundant and check it wins.
    for i in range(5):
        angular[i][i + 2] = 1.0
    angular[3][5] = 0.01
    assert select_block(imp, 2) == [3, 4]
    angular[3][5] = math.nan  # a NaN distance is never chosen
    assert select_block(imp, 2) != [3, 4]


def test_lowest_bi_and_metric_choice(tiny, importance_file):
    loaded = tiny("llama", layers=6)
    imp = load_importance(importance_file(loaded, bi=[0.5, 0.1, 0.9, 0.05, None, 0.2]))
    assert select_lowest(imp, 3) == [1, 3, 5]
    with pytest.raises(FastpruneError, match="finite"):
        select_lowest(imp, 6)
    with pytest.raises(FastpruneError, match="no 'bi_last_token'"):
        select_lowest(imp, 2, "bi_last_token")
    with pytest.raises(FastpruneError, match="does not apply to bi"):
        select_lowest(imp, 2, "angular")


def test_reverse():
    assert select_reverse(10, 3) == [6, 7, 8]
    with pytest.raises(FastpruneError, match="at most 9"):
        select_reverse(10, 10)


def test_choose_layers_dispatch_and_errors(tiny, importance_file):
    loaded = tiny("gemma2", layers=6)
    imp = load_importance(importance_file(loaded))
    block, _ = choose_layers(loaded, "block", drop=2, importance=imp)
    assert block == select_block(imp, 2)
    bi, extra = choose_layers(loaded, "bi", ratio=0.5, importance=imp)
    assert bi == select_lowest(imp, 3) and extra["metric"] == "bi"
    assert choose_layers(loaded, "reverse", drop=2)[0] == [3, 4]
    assert choose_layers(loaded, "explicit", layers="0,-1")[0] == [0, 5]
    with pytest.raises(FastpruneError, match="reads importance.json"):
        choose_layers(loaded, "block", drop=2)
    with pytest.raises(FastpruneError, match="unknown strategy"):
        choose_layers(loaded, "random", drop=2)
    with pytest.raises(FastpruneError, match="takes --layers"):
        choose_layers(loaded, "explicit", drop=2)
    with pytest.raises(FastpruneError, match="only applies to --strategy explicit"):
        choose_layers(loaded, "reverse", layers="1")
    with pytest.raises(FastpruneError, match="--metric applies"):
        choose_layers(loaded, "reverse", drop=1, metric="bi")
    with pytest.raises(FastpruneError, match="--calib-data"):
        choose_layers(loaded, "iterative", drop=1)
    other = tiny("gemma2", layers=6, seed=3)
    with pytest.raises(FastpruneError, match="another model"):
        choose_layers(other, "reverse", drop=1, importance=imp)


def test_schema_strategies_are_prune_strategies():
    from fastprune.importance.schema import DEFAULT_METRIC, METRICS
    from fastprune.prune.api import NEEDS_IMPORTANCE
    from fastprune.prune.select import STRATEGIES

    assert set(DEFAULT_METRIC) <= set(STRATEGIES) and NEEDS_IMPORTANCE == DEFAULT_METRIC
    assert all(set(m.strategies) <= set(STRATEGIES) for m in METRICS)


def test_bi_ranks_by_every_per_layer_metric_in_its_direction(tiny, importance_file):
    loaded = tiny("llama", layers=6)
    values = [0.5, 0.1, 0.9, 0.05, 0.7, 0.2]
    imp = load_importance(importance_file(loaded, taylor=values, magnitude=values[::-1], update_ratio=values,
                                          loss_delta=values))
    for name in ("taylor", "update_ratio", "loss_delta"):  # high = important: the lowest go
        assert select_lowest(imp, 2, name) == [1, 3]
    assert select_lowest(imp, 2, "magnitude") == [2, 4]
    with pytest.raises(FastpruneError, match="'norms' does not apply to bi; use one of bi, "):
        select_lowest(imp, 2, "norms")


def test_block_ranks_similarities_by_the_highest(tiny, importance_file):
    loaded = tiny("qwen3", layers=6)
    imp = load_importance(importance_file(loaded))
    cosine, angular = imp.data["cosine"], imp.data["angular"]
    for n in (1, 2, 3):
        start = select_block(imp, n, "cosine")[0]
        assert cosine[start][start + n] == max(cosine[s][s + n] for s in range(6 - n + 1))
    cosine[0][2], angular[0][2] = 0.9999, 0.0001
    assert select_block(imp, 2, "cosine") == select_block(imp, 2) == [0, 1]
    cosine[0][2] = math.nan  # a NaN similarity is never chosen, whatever the direction
    assert select_block(imp, 2, "cosine") != [0, 1]
    with pytest.raises(FastpruneError, match="'taylor' does not apply to block"):
        select_block(imp, 2, "taylor")


def test_loss_delta_windows_must_match_what_is_ranked(tiny, importance_file):
    loaded = tiny("llama", layers=6)
    two = load_importance(importance_file(loaded, loss_delta=[0.4, 0.3, 0.01, 0.5, 0.2],
                                          settings={"block": 2}))
    assert select_block(two, 2, "loss_delta") == [2, 3]  # block [2, 4) costs least
    with pytest.raises(FastpruneError, match=r"2-layer blocks.*--block 3"):
        select_block(two, 3, "loss_delta")
    with pytest.raises(FastpruneError, match=r"2-layer blocks.*ranks single layers.*--block 1"):
        select_lowest(two, 2, "loss_delta")
    one = load_importance(importance_file(loaded, name="one.json", loss_delta=[0.4, 0.3, 0.01, 0.5, 0.2, 0.6]))
    assert select_block(one, 1, "loss_delta") == [2] == select_lowest(one, 1, "loss_delta")


def test_choose_layers_takes_any_metric_of_the_strategy(tiny, importance_file):
    loaded = tiny("gemma2", layers=6)
    imp = load_importance(importance_file(loaded, taylor=[3.0, 1.0, 2.0, 6.0, 5.0, 4.0]))
    chosen, extra = choose_layers(loaded, "bi", drop=2, importance=imp, metric="taylor")
    assert chosen == [1, 2] and extra["metric"] == "taylor"
    with pytest.raises(FastpruneError, match="does not apply to block"):
        choose_layers(loaded, "block", drop=2, importance=imp, metric="taylor")
