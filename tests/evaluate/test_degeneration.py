import pytest

from fastprune.evaluate.degeneration import degeneration_metrics, rep_n


def test_rep_n_counts_repeated_ngrams():
    words = ["a", "b", "a", "b", "a", "b"]  # bigrams: ab ba ab ba ab -> 2 distinct of 5
    assert rep_n(words, 2) == pytest.approx(1 - 2 / 5)
    assert rep_n(words, 1) == pytest.approx(1 - 2 / 6)
    assert rep_n(["the", "cat", "sat", "on", "the", "mat"], 2) == 0.0


def test_rep_n_short_text_is_none_and_bad_n_raises():
    assert rep_n(["one"], 2) is None
    with pytest.raises(ValueError):
        rep_n(["a"], 0)


def test_degeneration_metrics_looping_vs_varied():
    loop = " ".join(["I like apples ."] * 20)
    varied = "Janet has three ducks and each of them lays two eggs every single morning"
    m = degeneration_metrics([loop])
    assert m["rep2"] > 0.9 and m["rep4"] > 0.9
    v = degeneration_metrics([varied])
    assert v["rep2"] == v["rep3"] == v["rep4"] == 0.0
    both = degeneration_metrics([loop, varied], num_tokens=[80, 14])
    assert both["rep2"] == pytest.approx((m["rep2"] + 0.0) / 2)
    assert both["mean_len_tokens"] == 47
    assert both["mean_len_words"] == (80 + 14) / 2


def test_degeneration_metrics_empty_and_too_short():
    m = degeneration_metrics(["", "x"], num_tokens=[0, 1])
    assert m["rep2"] == 0.0 and m["mean_len_words"] == 0.5
    assert degeneration_metrics([])["mean_len_words"] == 0.0
