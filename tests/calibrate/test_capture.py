import pytest
import torch

from fastprune.calibrate.capture import BoundaryCapture
from fastprune.data import pad_batch
from fastprune.errors import FastpruneError

from .oracle import boundaries_from_hf


@pytest.mark.parametrize("family", ["llama", "gemma2", "phi3"])
def test_buffer_holds_pre_norm_boundaries_of_real_tokens(tiny, family):
    loaded = tiny(family, layers=3)
    seqs = [list(range(40, 52)), list(range(60, 65)), list(range(70, 79))]
    ids, mask = pad_batch(seqs, pad_id=259)
    cap = BoundaryCapture(
        loaded.adapter, max_tokens=ids.numel(), dtype=torch.float32, device=torch.device("cpu")
    )
    with cap, torch.no_grad():
        n, last = cap.bind(mask)
        loaded.model.base_model(input_ids=ids, attention_mask=mask, use_cache=False)
    cap.check_filled()
    assert n == 26 and cap.buffer.shape == (4, 26, 64)
    expected = torch.cat([boundaries_from_hf(loaded.model, torch.tensor(s)) for s in seqs], dim=1)
    torch.testing.assert_close(cap.buffer.double(), expected, atol=1e-5, rtol=1e-4)
    # The last real token of each sequence, not the last column of the padded batch.
    assert last.tolist() == [11, 16, 25]
    # h_L is the input of the final norm, not HF's last hidden state (which is after it).
    with torch.no_grad():
        post = loaded.model(torch.tensor([seqs[0]]), output_hidden_states=True).hidden_states[-1][0]
    assert not torch.allclose(cap.buffer[-1, :12], post, atol=1e-3)


def test_unpadded_batch_is_a_plain_copy_and_last_is_the_final_column(tiny):
    loaded = tiny("qwen3", layers=2)
    ids = torch.randint(0, 256, (2, 7))
    cap = BoundaryCapture(loaded.adapter, 14, torch.float32, torch.device("cpu"))
    with cap, torch.no_grad():
        n, last = cap.bind(torch.ones_like(ids))
        loaded.model.base_model(input_ids=ids, use_cache=False)
    assert n == 14 and last.tolist() == [6, 13]
    torch.testing.assert_close(cap.buffer[:, 7:].double(), boundaries_from_hf(loaded.model, ids[1]))


def test_disabled_capture_leaves_buffer_and_hooks_are_removed(tiny):
    loaded = tiny("llama", layers=2)
    ids = torch.randint(0, 256, (1, 5))
    cap = BoundaryCapture(loaded.adapter, 5, torch.float32, torch.device("cpu"))
    with cap, torch.no_grad():
        cap.bind(torch.ones_like(ids))
        cap.enabled = False
        loaded.model.base_model(input_ids=ids, use_cache=False)
        with pytest.raises(FastpruneError, match="did not reach"):
            cap.check_filled()
    layer = loaded.adapter.layers[0]
    assert not layer._forward_hooks and not layer._forward_pre_hooks


def test_bad_batches(tiny):
    loaded = tiny("llama", layers=2)
    cap = BoundaryCapture(loaded.adapter, 4, torch.float32, torch.device("cpu"))
    with pytest.raises(FastpruneError, match="only padding"):
        cap.bind(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(FastpruneError, match="more than"):
        cap.bind(torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(FastpruneError, match="sequence in the batch holds only padding"):
        cap.bind(torch.tensor([[1, 1, 0], [0, 0, 0]]))
