"""Self-response JSONL files in the format ``fastprune generate`` writes, for the train tests."""

from __future__ import annotations

import json
import random

import pytest


def arithmetic_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = rng.randint(1, 99), rng.randint(1, 99)
        prompt = [{"role": "user", "content": f"What is {a} + {b}?"}] if i % 3 else f"Add {a} and {b}."
        response = f"{a} + {b} = {a + b}." + " Done." * rng.randint(0, 4)
        rows.append({"id": str(i), "prompt": prompt, "response": response, "num_tokens": len(response),
                     "finish_reason": "eos"})
    return rows


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.fixture
def rows_file(tmp_path):
    """Factory: ``rows_file(n)`` -> path of a JSONL file with ``n`` self-response rows."""

    def make(n: int = 24, seed: int = 0, name: str = "rows.jsonl") -> str:
        return write_jsonl(tmp_path / name, arithmetic_rows(n, seed))

    return make
