"""The real SmolLM2-135M on real GSM8K text: statistics against HF's own hidden states."""

import pytest
import torch

from fastprune.calibrate.runner import CalibrationConfig, calibrate
from fastprune.data import SequenceStream, open_source

from .oracle import naive_importance


@pytest.mark.embedded
def test_embedded_model_matches_hf_hidden_states(embedded, shared_data, tmp_path):
    source = open_source("gsm8k-train")
    cfg = CalibrationConfig(
        seq_len=24, batch_size=2, max_tokens=48, save_every=0, progress=False, plots=False
    )
    got = calibrate(embedded, source, cfg, tmp_path / "o", model_name="smollm2-135m")
    seqs = list(SequenceStream(source, embedded.tokenizer, 24, max_tokens=48))
    want = naive_importance(embedded.model, seqs)
    assert got["num_layers"] == 30 and len(got["cosine"]) == 31 and got["tokens"] == 48
    for key in ("cosine", "angular", "norms", "update_ratio", "bi", "bi_last_token"):
        torch.testing.assert_close(
            torch.tensor(got[key], dtype=torch.float64), want[key].double(), atol=1e-4, rtol=1e-4, msg=key
        )
    # A trained model: the last layer changes the residual stream far more than the middle ones do.
    assert got["bi"][-1] > 3 * sorted(got["bi"])[len(got["bi"]) // 2]
