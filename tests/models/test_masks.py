"""models.masks: the engine's cache masks and training's packed-document masks follow one rule."""

import pytest
import torch

from fastprune.models import TINY_FAMILIES, tiny_config
from fastprune.models.masks import additive_mask, allowed_mask, document_mask, layer_windows, sliding_windows


@pytest.mark.parametrize("window", [None, 1, 3, 50])
def test_one_document_is_exactly_the_engines_prefill_mask(window):
    width = 7
    engine = additive_mask(allowed_mask(torch.arange(width)[None], width, window), torch.float32)
    assert torch.equal(document_mask([[width]], width, torch.float32, window), engine)


def test_documents_never_see_each_other_and_padding_sees_only_itself():
    seen = document_mask([[2, 3], [4]], width=6, dtype=torch.bfloat16)[:, 0] == 0
    assert seen[0, 3].tolist() == [False, False, True, True, False, False]  # 2nd doc of row 0
    assert seen[1, 5].tolist() == [False] * 5 + [True]  # padding: a one-token document
    assert seen.any(-1).all()  # no empty softmax row anywhere


@pytest.mark.parametrize("family", sorted(TINY_FAMILIES))
def test_training_kinds_and_engine_layer_windows_agree(family):
    config = tiny_config(family, 4)
    per_layer = layer_windows(config, 4)
    kinds = sliding_windows(config)
    types = getattr(config, "layer_types", None)
    if types:
        assert [kinds[t] for t in types] == per_layer
    else:
        assert set(kinds.values()) == set(per_layer)
