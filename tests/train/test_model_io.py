import torch
from safetensors.torch import load_file

from fastprune.train import TrainConfig, train
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
