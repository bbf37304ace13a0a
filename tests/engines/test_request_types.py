"""types: sampling parameters and requests are validated where they are built."""

from __future__ import annotations

import pytest

from fastprune.engines import GenerationRequest, SamplingParams
from fastprune.errors import FastpruneError


def test_defaults_and_normalisation():
    p = SamplingParams(stop_token_ids=[3, 4], stop_strings="###")
    assert p.greedy and p.max_new_tokens == 256 and p.top_p == 1.0
    assert p.stop_token_ids == (3, 4) and p.stop_strings == ("###",)
    assert not SamplingParams(temperature=0.5).greedy
    req = GenerationRequest((1, 2, 3))
    assert req.prompt_ids == [1, 2, 3] and req.id is None and req.sampling == SamplingParams()


@pytest.mark.parametrize("kwargs, match", [
    ({"max_new_tokens": 0}, "max_new_tokens"), ({"temperature": -1.0}, "temperature"),
    ({"top_k": -2}, "top_k"), ({"top_p": 1.5}, "top_p"), ({"seed": -3}, "seed"),
    ({"stop_strings": ("",)}, "stop_strings"),
])
def test_bad_sampling_params_name_the_field(kwargs, match):
    with pytest.raises(FastpruneError, match=match):
        SamplingParams(**kwargs)


def test_bad_requests():
    with pytest.raises(FastpruneError, match="empty prompt"):
        GenerationRequest([], id="q")
    with pytest.raises(FastpruneError, match="SamplingParams"):
        GenerationRequest([1], sampling={"temperature": 1.0})
