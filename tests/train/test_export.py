import json

import torch
import torch.distributed as dist

from fastprune.models import load_model
from fastprune.train.distributed import DistEnv
from fastprune.train.export import stream_plain_checkpoint
from fastprune.train.modes import prepare, wrap_lora
from fastprune.train.sharded_load import load_sharded


def test_streamed_lora_export_in_several_shards_reloads_as_the_peft_merged_model(tmp_path):
    from transformers import AutoModelForCausalLM

    src = load_model("tiny:qwen3:2", dtype="float32", seed=3)
    src.model.save_pretrained(tmp_path / "src")
    env = DistEnv(0, 1, 0, torch.device("cpu"), sharded=True, owns_group=False)
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        loaded, setup = load_sharded(str(tmp_path / "src"), torch.float32, env, False, 0,
                                     lambda m: prepare(m.model, m.adapter.layers, "lora", lora_r=4, lora_alpha=8))
        g = torch.Generator().manual_seed(1)
        adapters = {}
        with torch.no_grad():
            for name, p in setup.model.named_parameters():
                if ".lora_B." in name:  # B starts at zero: give the merge something to add
                    p.to_local().copy_(torch.randn(p.shape, generator=g) * 0.05)
                if ".lora_" in name:
                    adapters[name] = p.full_tensor().clone()
        out = tmp_path / "out"
        out.mkdir()
        stream_plain_checkpoint(setup.model, env, torch.bfloat16, out, max_shard_bytes=30_000)
        loaded.model.config.save_pretrained(out)
    finally:
        dist.destroy_process_group()
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 2 and not any("lora" in k for k in index["weight_map"])
    ref = wrap_lora(load_model(str(tmp_path / "src"), dtype="float32").model, r=4, alpha=8, dropout=0.05)
    assert not ref.load_state_dict(adapters, strict=False).unexpected_keys
    ref = ref.merge_and_unload().to(torch.bfloat16)
    got = AutoModelForCausalLM.from_pretrained(out, dtype=torch.bfloat16)
    want = ref.state_dict()
    assert set(got.state_dict()) == set(want)
    for k, v in got.state_dict().items():
        torch.testing.assert_close(v, want[k], rtol=1e-2, atol=1e-3, msg=k)
