"""``lm_eval:`` tasks with ``--engine vllm``: lm-eval's local-completions model aimed at the server."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from fastprune.errors import FastpruneError

pytest.importorskip("lm_eval")


def test_served_model_points_lm_eval_at_the_server(tiny, tmp_path):
    from fastprune.evaluate.lm_eval_bridge import served_model

    loaded = tiny("llama", layers=1)
    loaded.tokenizer.save_pretrained(tmp_path)
    lm = SimpleNamespace(served={"url": "http://127.0.0.1:8123", "model": "m", "tokenizer": str(tmp_path)},
                         batch_size=3, max_seq_len=256)
    model = served_model(lm)
    assert model.base_url == "http://127.0.0.1:8123/v1/completions" and model.model == "m"
    assert model._concurrent == 3 and model.max_length <= 256 and model.tokenized_requests
    lm.served["tokenizer"] = None
    with pytest.raises(FastpruneError, match="tokenizer on disk"):
        served_model(lm)
