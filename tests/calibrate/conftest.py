"""Fixtures of the calibration tests (the statistics oracle lives in oracle.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def corpus_file(tmp_path):
    """A small JSONL corpus with examples of very different lengths (so unpacked batches get padding)."""
    import json

    path = tmp_path / "corpus.jsonl"
    rows = [
        {"question": f"What is {i} plus {i * 3}?" + " Think." * (i % 5), "answer": f"It is {4 * i}."}
        for i in range(14)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(autouse=True)
def _one_thread():
    """The test models are tiny: on a shared 2-core machine extra threads only spin and wait."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
