import pytest
import torch

from fastprune.calibrate.accumulators import Accumulators, means
from fastprune.errors import FastpruneError
from fastprune.ops import boundary_stats_ref

from .oracle import naive_sums


def _random_batch(k=4, n=9, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, n, d, generator=g, dtype=torch.float64).float()


def test_means_of_two_batches_equal_the_naive_means():
    acc = Accumulators(num_layers=3)
    hs = [_random_batch(seed=s, n=n) for s, n in ((0, 9), (1, 5))]
    for h in hs:
        stats = boundary_stats_ref(h, torch.ones(h.shape[1]))
        last = boundary_stats_ref(h[:, -1:].contiguous(), torch.ones(1))
        acc.add_batch(stats, last, sequences=1)
    out = means(acc.sums)
    naive = [naive_sums(h.double()) for h in hs]
    n = sum(s["n"] for s in naive)
    cos = (naive[0]["cos"] + naive[1]["cos"]) / n
    torch.testing.assert_close(torch.tensor(out["cosine"], dtype=torch.float64), cos, atol=1e-6, rtol=0)
    torch.testing.assert_close(
        torch.tensor(out["norms"], dtype=torch.float64),
        (naive[0]["norm"] + naive[1]["norm"]) / n,
        atol=1e-5,
        rtol=1e-6,
    )
    assert out["bi"] == pytest.approx([1 - float(cos[i, i + 1]) for i in range(3)], abs=1e-6)
    assert len(out["update_ratio"]) == 3 and int(acc.sums["sequences"]) == 2 and int(acc.sums["tokens"]) == 14


@pytest.mark.parametrize("boundary", [0, 2, 3])
def test_first_bad_boundary_finds_the_poisoned_layer(boundary):
    h = _random_batch()
    h[boundary, 4, 7] = float("nan")
    assert Accumulators.first_bad_boundary(boundary_stats_ref(h, torch.ones(9))) == boundary
    assert Accumulators.first_bad_boundary(boundary_stats_ref(_random_batch(), torch.ones(9))) is None
    msg = Accumulators.nan_message(boundary, 7)
    assert "batch 7" in msg and ("embeddings" if boundary == 0 else f"output of layer {boundary - 1}") in msg


def test_reduced_sums_through_the_collective_and_keeps_local_sums():
    acc = Accumulators(num_layers=2, loss_blocks=2, taylor=True)
    acc.sums["tokens"] += 3
    acc.sums["taylor_sum"] += torch.tensor([1.0, 2.0], dtype=torch.float64)
    total = acc.reduced(lambda flat: flat.mul_(2))  # two identical ranks
    assert float(total["tokens"]) == 6 and total["taylor_sum"].tolist() == [2.0, 4.0]
    assert float(acc.sums["tokens"]) == 3


def test_state_round_trip_and_mismatch():
    acc = Accumulators(num_layers=2)
    acc.sums["cos_sum"] += 0.1
    other = Accumulators(num_layers=2)
    other.load_state_dict(acc.state_dict())
    assert torch.equal(other.sums["cos_sum"], acc.sums["cos_sum"])
    with pytest.raises(FastpruneError, match="other options"):
        Accumulators(num_layers=2, taylor=True).load_state_dict(acc.state_dict())
    with pytest.raises(FastpruneError, match="shape"):
        Accumulators(num_layers=3).load_state_dict(acc.state_dict())


def test_means_without_tokens_is_an_error():
    with pytest.raises(FastpruneError, match="no tokens"):
        means(Accumulators(num_layers=2).sums)
