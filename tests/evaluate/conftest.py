"""A tiny model wrapped for evaluation, shared by the task tests of this folder (built once)."""

import pytest


@pytest.fixture(scope="session")
def tiny_lm():
    from fastprune.evaluate.lm import EvalModel
    from fastprune.models import load_model

    return EvalModel(load_model("tiny:llama:2", dtype="float32", seed=0), batch_size=8)


@pytest.fixture(scope="session")
def embedded_lm(embedded):
    from fastprune.evaluate.lm import EvalModel

    return EvalModel(embedded, batch_size=8)
