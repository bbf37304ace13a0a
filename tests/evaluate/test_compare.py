import json
from pathlib import Path

import pytest

from fastprune.cli import main
from fastprune.errors import FastpruneError
from fastprune.evaluate.compare import compare_samples, load_eval
from fastprune.evaluate.task import ItemMetric

FIXTURES = Path(__file__).parent / "fixtures"


def _eval(tmp_path, model, name, seed="0"):
    out = tmp_path / name
    assert main(["eval", model, "--tasks", "arith,ppl", "--limit", "6", "--out", str(out),
                 "--max-new-tokens", "3", "--seed", seed, "--no-progress",
                 "--ppl-file", str(FIXTURES / "short.txt"), "--ppl-max-length", "32", "--ppl-stride", "16"]) == 0
    return out


def test_compare_two_finished_evals(tmp_path, capsys):
    a = _eval(tmp_path, "tiny:llama:2", "a")
    b = _eval(tmp_path, "tiny:llama:1", "b")
    capsys.readouterr()
    assert main(["eval", "compare", str(a), str(b / "scores.json"), "--out", str(tmp_path / "cmp")]) == 0
    printed = capsys.readouterr().out
    assert "tiny:llama:1" in printed and "arith: " in printed and "ppl: " in printed
    assert "resolved" in printed  # either verdict, spelled out per task
    doc = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert doc["comparisons"]["ppl"]["test"] == "sign-flip permutation over windows"
    arith = doc["comparisons"]["arith"]
    assert arith["n"] == 6 and arith["test"] == "exact McNemar" and 0 <= arith["p_value"] <= 1
    # n=6 with no discordance cannot resolve anything under 6/6
    if arith["lost"] + arith["gained"] == 0:
        assert arith["min_resolvable_difference"] == pytest.approx(1.0)


def test_compare_refuses_unlike_items(tmp_path, capsys):
    a = _eval(tmp_path, "tiny:llama:2", "a", seed="0")
    b = _eval(tmp_path, "tiny:llama:2", "b", seed="1")  # other seed: other problems, other ids
    capsys.readouterr()
    assert main(["eval", "compare", str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "share no item ids; nothing can be paired" in err
    assert main(["eval", "compare", str(a)]) == 2
    assert main(["eval", "compare", str(a), str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_compare_samples_pairs_by_id_not_position():
    base = [{"id": "x", "correct": True}, {"id": "y", "correct": False}, {"id": "z", "correct": True}]
    other = [{"id": "z", "correct": False}, {"id": "x", "correct": True}]
    c = compare_samples(base, other, ItemMetric("correct"), True)
    assert c.n == 2 and c.lost == 1 and c.gained == 0
    with pytest.raises(FastpruneError, match="share no item ids"):
        compare_samples(base, [{"id": "w", "correct": True}], ItemMetric("correct"), True)
    changed = [{**base[0], "prompt": "Q: 1+1"}, base[1]]
    with pytest.raises(FastpruneError, match="item 'x' has a different prompt"):
        compare_samples([{**base[0], "prompt": "Q: 2+2"}, base[1]], changed, ItemMetric("correct"), True)
    with pytest.raises(FastpruneError, match="does not exist"):
        load_eval("/nonexistent/folder")
