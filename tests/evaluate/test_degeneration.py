import pytest

from fastprune.evaluate.degeneration import degeneration_metrics, rep_n, self_bleu4, sentences


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


def test_sentences_split_at_end_marks_and_line_breaks():
    parts = sentences("One. Two!  Three?\nFour\n\nfive 3.5 stays")
    assert parts == ["One.", "Two!", "Three?", "Four", "five 3.5 stays"]
    assert sentences("   ") == []


def test_self_bleu4_against_sacrebleu_directly():
    from sacrebleu.metrics import BLEU

    text = "The cat sat on the mat. The cat sat on a hat. A dog ran in the park."
    parts = sentences(text)
    bleu = BLEU(effective_order=True)
    expected = sum(bleu.sentence_score(h, [p for j, p in enumerate(parts) if j != i]).score
                   for i, h in enumerate(parts)) / 300
    assert self_bleu4(text) == pytest.approx(expected)
    assert self_bleu4("Only one sentence here") is None


def test_self_bleu4_is_high_for_restated_sentences_and_low_for_varied_ones():
    loop = " ".join(["The answer is 12 because 3 times 4 is 12."] * 5)
    near = ("The answer is 12 because 3 times 4 is 12. The answer is 12 because 4 times 3 is 12. "
            "So the answer is 12 because 3 times 4 is 12.")
    varied = "Janet has three ducks. Each lays two eggs a day. She sells them at the market for two dollars."
    assert self_bleu4(loop) == pytest.approx(1.0)
    assert self_bleu4(near) > 0.5 > 0.2 > self_bleu4(varied)
    m = degeneration_metrics([loop, varied, "no sentence end"])
    assert m["self_bleu4_texts"] == 2
    assert m["self_bleu4"] == pytest.approx((1.0 + self_bleu4(varied)) / 2)
    assert degeneration_metrics([])["self_bleu4"] == 0.0
