import json

import pytest
import torch
import torch.distributed as dist

from fastprune.errors import FastpruneError
from fastprune.models import load_model
from fastprune.train.distributed import DistEnv
from fastprune.train.modes import prepare
from fastprune.train.sharded_load import load_sharded, owned_rows

ONE = DistEnv(0, 1, 0, torch.device("cpu"), sharded=True, owns_group=False)


@pytest.fixture
def group():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield ONE
    dist.destroy_process_group()


def test_owned_rows_are_fsdp2s_chunks():
    for rows, world in [(10, 3), (3, 4), (8, 2), (1, 2)]:
        chunks = torch.arange(rows).chunk(world)
        for rank in range(world):
            lo, hi = owned_rows(rows, world, rank)
            want = chunks[rank].tolist() if rank < len(chunks) else []
            assert list(range(lo, hi)) == want


def _saved(tmp_path, spec="tiny:llama:3"):
    src = load_model(spec, dtype="float32", seed=7)
    # Small shards: the index of several files is what big checkpoints look like.
    src.model.save_pretrained(tmp_path / "ckpt", max_shard_size="40KB")
    src.tokenizer.save_pretrained(tmp_path / "ckpt")
    return src.model, tmp_path / "ckpt"


def test_sharded_checkpoint_loads_tied_with_rotary_buffers_and_the_same_logits(group, tmp_path):
    src, path = _saved(tmp_path)
    assert (path / "model.safetensors.index.json").is_file()
    loaded, _ = load_sharded(str(path), torch.float32, group, False, 0)
    model = loaded.model
    assert not any(t.is_meta for t in [*model.parameters(), *model.buffers()])
    assert model.lm_head.weight is model.model.embed_tokens.weight  # still tied after to_empty
    torch.testing.assert_close(model.model.rotary_emb.inv_freq, src.model.rotary_emb.inv_freq, rtol=0, atol=0)
    for name, p in model.named_parameters():
        assert torch.equal(p.full_tensor(), src.state_dict()[name]), name
    ids = torch.randint(0, 256, (2, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, src(input_ids=ids).logits)


def test_partial_mode_on_meta_unties_the_head_from_the_embedding_rows(group, tmp_path):
    src, path = _saved(tmp_path)
    loaded, setup = load_sharded(str(path), torch.float32, group, False, 0,
                                 lambda m: prepare(m.model, m.adapter.layers, "partial", last_k=1))
    head, emb = loaded.model.lm_head.weight, loaded.model.model.embed_tokens.weight
    assert head is not emb and head.requires_grad and not emb.requires_grad
    assert torch.equal(head.full_tensor(), src.model.embed_tokens.weight)


def test_a_checkpoint_missing_a_tensor_is_a_clear_error(group, tmp_path):
    _, path = _saved(tmp_path)
    config = json.loads((path / "config.json").read_text())
    config["num_hidden_layers"] = 4
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(FastpruneError, match="no tensor 'model.layers.3"):
        load_sharded(str(path), torch.float32, group, False, 0)
