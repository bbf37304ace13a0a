"""Pull a final numeric answer out of free-form model text, and compare numbers exactly.

Order of evidence (the most explicit wins): the last ``\\boxed{...}``, then ``#### N`` (GSM8K's own
format), then "the answer is N", then the last number anywhere. Numbers are normalised before
comparison: thousands separators, currency signs, trailing periods, and decimals equal to integers
("18.00" == "18") do not make a right answer wrong.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# the zero-shot chat instruction of the paper's protocol (gsm8k, math500): the answer is read from \boxed{}
ZERO_SHOT_SUFFIX = "\nPlease reason step by step, and put your final answer within \\boxed{}."

_NUMBER = r"-?[$€£]?\s?-?\d[\d,]*(?:\.\d+)?|-?[$€£]?\s?-?\.\d+"
_NUMBER_RE = re.compile(_NUMBER)
_HASHES_RE = re.compile(r"####\s*(" + _NUMBER + ")")
_ANSWER_IS_RE = re.compile(r"answer\s+is\s*:?\s*(?:\\\(|\$)?\s*(" + _NUMBER + ")", re.IGNORECASE)


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced; None if absent/unclosed."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        # "\boxed 5" (no braces) is valid LaTeX for a single token
        rest = text[start:].split(maxsplit=1)
        return rest[1].split()[0].rstrip(".$") if len(rest) > 1 else None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None


def _fraction(m: re.Match) -> Decimal:
    """Value of a matched ``-\\frac{a}{b}``."""
    return Decimal(f"{m.group(1)}1") * Decimal(m.group(2)) / Decimal(m.group(3))


def normalize_number(s: str | None) -> str | None:
    """Canonical text of a number ("$1,234.50" -> "1234.5", "18.00" -> "18"); None if not a number."""
    if s is None:
        return None
    t = re.sub(r"\\[!,;: ]", "", s.strip())  # LaTeX thin spaces inside \boxed{1\,000}
    t = t.replace(",", "").replace(" ", "")
    t = t.replace("\\$", "").replace("$", "").replace("€", "").replace("£", "").replace("\\%", "%")
    t = t.rstrip(".").rstrip("%")
    m = re.fullmatch(r"\\(?:text|textbf|mathrm)\{(.*)\}", t)
    if m:
        t = m.group(1)
    frac = re.fullmatch(r"(-?)\\frac\{(-?\d+)\}\{(-?\d+)\}", t)
    try:
        value = _fraction(frac) if frac else Decimal(t)
    except (InvalidOperation, ZeroDivisionError):
        return None
    if not value.is_finite():
        return None
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def extract_answer(text: str) -> tuple[str | None, str]:
    """(normalised number or None, which rule found it: boxed / hashes / answer_is / last_number / none)."""
    boxed = last_boxed(text)
    if boxed is not None:
        value = normalize_number(boxed)
        if value is None:  # "\boxed{18 apples}": take the number inside
            numbers = _NUMBER_RE.findall(boxed)
            value = normalize_number(numbers[-1]) if numbers else None
        if value is not None:
            return value, "boxed"
    for rule, regex in (("hashes", _HASHES_RE), ("answer_is", _ANSWER_IS_RE)):
        matches = regex.findall(text)
        if matches and (value := normalize_number(matches[-1])) is not None:
            return value, rule
    for candidate in reversed(_NUMBER_RE.findall(text)):
        if (value := normalize_number(candidate)) is not None:
            return value, "last_number"
    return None, "none"


def numbers_equal(a: str | None, b: str | None) -> bool:
    """Exact numeric equality of two answers after normalisation; a missing answer is never equal."""
    na, nb = normalize_number(a), normalize_number(b)
    return na is not None and na == nb
