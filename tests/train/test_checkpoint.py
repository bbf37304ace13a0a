import pytest
import torch

from fastprune.errors import FastpruneError
from fastprune.train import checkpoint
from fastprune.train.distributed import DistEnv

SINGLE = DistEnv(0, 1, 0, torch.device("cpu"), sharded=False, owns_group=False)


def _model_and_opt(seed):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Linear(7, 3))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model(torch.randn(4, 5)).sum().backward()
    opt.step()
    opt.zero_grad()
    return model, opt


def test_save_load_round_trip_with_rng_and_rotation(tmp_path):
    model, opt = _model_and_opt(0)
    for step in (1, 2, 3):
        checkpoint.save(tmp_path, step, model, opt, {"data_sha256": "abc"}, SINGLE)
    (tmp_path / ".step_00000004.tmp").mkdir()  # a save killed half-way is never picked up
    found = checkpoint.complete_checkpoints(tmp_path)
    assert [p.name for p in found] == ["step_00000002", "step_00000003"]  # older ones rotated out
    expected_rand = torch.rand(3)  # what the RNG gives right after the save
    other, other_opt = _model_and_opt(1)
    meta = checkpoint.load(found[-1], other, other_opt, SINGLE, {"data_sha256": "abc"})
    assert meta["step"] == 3
    for a, b in zip(model.parameters(), other.parameters(), strict=True):
        assert torch.equal(a, b)
    sa, sb = opt.state_dict()["state"], other_opt.state_dict()["state"]
    assert all(torch.equal(sa[k]["exp_avg"], sb[k]["exp_avg"]) for k in sa)
    assert torch.equal(torch.rand(3), expected_rand)


def test_load_refuses_changed_settings(tmp_path):
    model, opt = _model_and_opt(0)
    path = checkpoint.save(tmp_path, 1, model, opt, {"global_batch": 8}, SINGLE)
    with pytest.raises(FastpruneError, match="global_batch: checkpoint 8 vs now 4"):
        checkpoint.load(path, model, opt, SINGLE, {"global_batch": 4})
