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
