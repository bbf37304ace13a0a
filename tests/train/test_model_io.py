import pytest
import torch
from safetensors.torch import load_file

from fastprune.train import TrainConfig, train
from fastprune.train.metrics import read_log
from fastprune.train.model_io import source_dtype


def test_partial_output_keeps_the_untied_trained_head_and_the_requested_dtype(rows_file, tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "out"
    summary = train(TrainConfig(model="tiny:llama:3", data=rows_file(8), out=str(out), mode="partial", last_k=1,
                                lr=1e-2, warmup_steps=0, max_steps=2, max_seq_len=128, device="cpu",
                                save_dtype="bfloat16"))
    assert any("untied" in n for n in summary["notes"])
    weights = load_file(out / "model.safetensors")
    assert {t.dtype for t in weights.values()} == {torch.bfloat16}
    assert "lm_head.weight" in weights  # saved on its own, not folded back into the embeddings
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.tie_word_embeddings is False
    head, emb = model.lm_head.weight, model.model.embed_tokens.weight
    assert head.data_ptr() != emb.data_ptr() and not torch.equal(head, emb)  # the head trained, embeddings not
    # Frozen layers come back exactly as the source model had them (up to the bf16 cast).
    from fastprune.models import tiny_model

    src = tiny_model("llama", 3)
    torch.testing.assert_close(model.model.layers[0].mlp.up_proj.weight,
                               src.model.layers[0].mlp.up_proj.weight.to(torch.bfloat16), rtol=0, atol=0)
    assert not torch.equal(model.model.layers[2].mlp.up_proj.weight,
                           src.model.layers[2].mlp.up_proj.weight.to(torch.bfloat16))


def test_source_dtype_comes_from_the_checkpoint_config(tmp_path):
    class Loaded:
        path = tmp_path

    (tmp_path / "config.json").write_text('{"dtype": "bfloat16"}')
    assert source_dtype(Loaded) is torch.bfloat16
    (tmp_path / "config.json").write_text('{"torch_dtype": "float16"}')
    assert source_dtype(Loaded) is torch.float16
    Loaded.path = None
    assert source_dtype(Loaded) is None


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_qlora_trains_and_saves_the_merged_plain_checkpoint(rows_file, tmp_path, monkeypatch, device):
    """Paper QLoRA (NF4, double quantisation, r=64, alpha=16) on a 4-bit base, fp32 compute on CPU and bf16 on
    a GPU: the loss goes down, and the plain checkpoint (no peft, no bitsandbytes) gives the logits of the
    trained adapters merged into the unquantised source weights."""
    bnb = pytest.importorskip("bitsandbytes")
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    from peft import get_peft_model_state_dict, set_peft_model_state_dict
    from transformers import AutoModelForCausalLM

    import fastprune.train.loop as loop
    from fastprune.models import load_model
    from fastprune.train.modes import wrap_lora

    src = tmp_path / "src"
    loaded = load_model("tiny:qwen3:2", dtype="float32", seed=4)  # untied head: the logits can sharpen
    loaded.model.save_pretrained(src)
    loaded.tokenizer.save_pretrained(src)
    ids = torch.randint(0, 256, (2, 17), generator=torch.Generator().manual_seed(0))
    seen = {}
    real_save = loop.save_final

    def capture(setup, *args, **kwargs):
        modules = [m for m in setup.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
        weight = modules[0].weight
        seen["quant"] = (weight.quant_type, weight.compress_statistics, modules[0].compute_dtype, len(modules))
        seen["adapters"] = {k: v.detach().clone() for k, v in get_peft_model_state_dict(setup.model).items()}
        with torch.no_grad():
            seen["qlora_logits"] = setup.model.eval()(input_ids=ids.to(weight.device)).logits.float().cpu()
        return real_save(setup, *args, **kwargs)

    monkeypatch.setattr(loop, "save_final", capture)
    out = tmp_path / "out"
    summary = train(TrainConfig(model=str(src), data=rows_file(8), out=str(out), mode="qlora", lr=1e-2,
                                warmup_steps=0, epochs=4, batch_size=4, max_seq_len=128, device=device))
    cfg = summary["config"]
    assert (cfg["lora_r"], cfg["lora_alpha"]) == (64, 16)
    compute = torch.bfloat16 if device == "cuda" else torch.float32
    assert seen["quant"] == ("nf4", True, compute, 2 * 7)  # every projection of both layers is 4-bit
    losses = [r["loss"] for r in read_log(out / "train_log.jsonl")]
    assert len(losses) == 8 and losses[-1] < 0.9 * losses[0], losses
    plain = AutoModelForCausalLM.from_pretrained(out)
    weights = load_file(out / "model.safetensors")
    assert not any("lora" in k or "absmax" in k or "quant" in k for k in weights)
    assert {t.dtype for t in weights.values()} == {torch.float32}  # the source checkpoint's dtype
    # The reference merge: the captured adapters on the fp32 source, merged by peft.
    ref = wrap_lora(AutoModelForCausalLM.from_pretrained(src), r=64, alpha=16, dropout=0.05)
    set_peft_model_state_dict(ref, seen["adapters"])
    ref = ref.merge_and_unload().eval()
    with torch.no_grad():
        got, want, before = plain(input_ids=ids).logits, ref(input_ids=ids).logits, loaded.model(input_ids=ids).logits
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    # Against the 4-bit model it trained as only the base's quantisation error remains: the merged model is
    # much closer to it than the untrained source is.
    gap = (got - seen["qlora_logits"]).abs().mean()
    assert gap < 0.5 * (before - seen["qlora_logits"]).abs().mean(), gap


def test_qlora_killed_and_resumed_equals_an_uninterrupted_run(rows_file, tmp_path):
    pytest.importorskip("bitsandbytes")
    from fastprune.models import load_model

    src = tmp_path / "src"
    loaded = load_model("tiny:qwen3:2", dtype="float32", seed=4)
    loaded.model.save_pretrained(src)
    loaded.tokenizer.save_pretrained(src)
    data = rows_file(16)
    kw = dict(model=str(src), data=data, mode="qlora", lr=1e-2, warmup_steps=1, max_steps=4, batch_size=4,
              max_seq_len=128, device="cpu", save_every=2)
    train(TrainConfig(out=str(tmp_path / "straight"), **kw))

    def kill(record):
        if record["step"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(out=str(tmp_path / "resumed"), **kw), on_step=kill)
    resumed = train(TrainConfig(out=str(tmp_path / "resumed"), **kw))
    assert resumed["resumed_from_step"] == 2
    a, b = read_log(tmp_path / "straight" / "train_log.jsonl"), read_log(tmp_path / "resumed" / "train_log.jsonl")
    assert [r["loss"] for r in b] == pytest.approx([r["loss"] for r in a], rel=1e-5)
    wa = load_file(tmp_path / "straight" / "model.safetensors")
    wb = load_file(tmp_path / "resumed" / "model.safetensors")
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6)
