import pytest

from fastprune.evaluate.extract import extract_answer, last_boxed, normalize_number, numbers_equal


@pytest.mark.parametrize(
    ("text", "value", "rule"),
    [
        ("So the total is \\boxed{18}.", "18", "boxed"),
        ("\\boxed{1,234}", "1234", "boxed"),
        ("first \\boxed{3} then \\boxed{5}", "5", "boxed"),
        ("\\boxed{\\$12.50}", "12.5", "boxed"),
        ("\\boxed{18 apples}", "18", "boxed"),
        ("\\boxed{\\frac{3}{4}}", "0.75", "boxed"),
        ("\\boxed{\\text{42}}", "42", "boxed"),
        ("\\boxed{1\\,000}", "1000", "boxed"),
        ("\\fbox{7}", "7", "boxed"),
        ("She pays 3 + 4 = 7 dollars.\n#### 7", "7", "hashes"),
        ("#### 1,000,000", "1000000", "hashes"),
        ("The answer is $18.00.", "18", "answer_is"),
        ("So the answer is: 42", "42", "answer_is"),
        ("the answer is -5 degrees", "-5", "answer_is"),
        ("THE ANSWER IS 3.", "3", "answer_is"),
        ("He has 3 cats and 4 dogs, so 7 pets.", "7", "last_number"),
        ("It costs $1,000.", "1000", "last_number"),
        ("value is .5", "0.5", "last_number"),
        ("The temperature dropped to -3.", "-3", "last_number"),
        ("I cannot tell.", None, "none"),
        ("", None, "none"),
    ],
)
def test_extract_answer(text, value, rule):
    assert extract_answer(text) == (value, rule)


def test_boxed_wins_over_later_numbers_and_hashes():
    assert extract_answer("\\boxed{12} because 3 * 4 = 12 and 5 more #### 17") == ("12", "boxed")


def test_unclosed_box_falls_back_to_other_rules():
    assert last_boxed("\\boxed{12") is None
    assert extract_answer("\\boxed{12 and the answer is 9")[0] == "9"


def test_boxed_nested_braces():
    assert last_boxed("\\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"
    assert last_boxed("x \\boxed 5.") == "5"


def test_boxed_non_number_falls_through():
    assert extract_answer("\\boxed{x} so the answer is 4") == ("4", "answer_is")


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("18", "18"), ("18.00", "18"), ("18.", "18"), ("$18", "18"), ("1,234", "1234"), ("-0.50", "-0.5"),
        ("€7", "7"), ("50%", "50"), ("  9 ", "9"), ("3.14159", "3.14159"), ("1e3", "1000"),
        ("abc", None), ("", None), (None, None), ("nan", None), ("inf", None), ("\\frac{1}{0}", None),
        ("-\\frac{3}{4}", "-0.75"),
    ],
)
def test_normalize_number(raw, norm):
    assert normalize_number(raw) == norm


def test_numbers_equal():
    assert numbers_equal("18.00", "18")
    assert numbers_equal("$1,234", "1234")
    assert numbers_equal("0.5", ".50")
    assert not numbers_equal("18", "18.5")
    assert not numbers_equal(None, "18")
    assert not numbers_equal(None, None)
    assert not numbers_equal("x", "x")
