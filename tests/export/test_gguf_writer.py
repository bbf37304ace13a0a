"""The GGUF writer: llama.cpp's layout (names, depth, per-layer metadata, types, tokenizer) per family."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastprune.errors import FastpruneError
from fastprune.export import gguf_writer
from fastprune.export.gguf_writer import write_gguf
from fastprune.models import byte_tokenizer
from fastprune.models.gguf import load_gguf, read_gguf_fields
from fastprune.models.tiny import TINY_FAMILIES, tiny_model

ARCH = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "gemma2": "gemma2",
        "gemma3": "gemma3", "phi3": "phi3"}


@pytest.mark.parametrize("family", TINY_FAMILIES)
@pytest.mark.parametrize("qtype", ["f32", "q8_0"])
def test_layout_metadata_and_types(tmp_path, family, qtype):
    import gguf

    model = tiny_model(family, 3)
    path = tmp_path / "m.gguf"
    types = write_gguf(model, byte_tokenizer(), path, qtype)
    reader = gguf.GGUFReader(str(path))
    fields = read_gguf_fields(path)
    arch = fields["general.architecture"]
    assert arch == ARCH[family] and fields[f"{arch}.block_count"] == 3
    blocks = {int(t.name.split(".")[1]) for t in reader.tensors if t.name.startswith("blk.")}
    assert blocks == {0, 1, 2}
    names = {t.name for t in reader.tensors}
    assert ("output.weight" in names) != model.config.tie_word_embeddings
    for t in reader.tensors:
        if len(t.shape) == 1:
            assert t.tensor_type.name == "F32", t.name
        else:
            assert t.tensor_type.name == ("F32" if qtype == "f32" else "Q8_0"), t.name
    assert types == {t.name: t.tensor_type.name for t in reader.tensors}
    if family in ("gemma2", "gemma3"):
        pattern = fields[f"{arch}.attention.sliding_window_pattern"]
        assert pattern == [kind == "sliding_attention" for kind in model.config.layer_types]
    assert fields["tokenizer.ggml.model"] == "gpt2"
    assert len(reader.fields["tokenizer.ggml.tokens"].data) == model.config.vocab_size


def test_permute_is_what_transformers_reverses():
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    w = np.random.default_rng(0).standard_normal((6 * 2 * 3, 7)).astype(np.float32)  # 6 heads of dim 6
    back = LlamaTensorProcessor()._reverse_permute_weights(gguf_writer._permute(w, 6), 6, 6)
    np.testing.assert_array_equal(back, w)
    assert not np.array_equal(gguf_writer._permute(w, 6), w)


def test_unsupported_family_is_a_clear_error(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=320))
    with pytest.raises(FastpruneError, match="GGUF export supports .*'gpt2'"):
        write_gguf(model, byte_tokenizer(), tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()


def test_bpe_merges_and_pre_tokenizer_round_trip(tmp_path):
    """A real byte-level BPE (with merges) is rebuilt by transformers token for token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["the cat sat on the mat, then the cat ran"] * 50 + ["def f(x):\n    return x"] * 20,
                            trainer)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", bos_token="<|endoftext|>")
    model = tiny_model("qwen3", 2)
    path = tmp_path / "bpe.gguf"
    write_gguf(model, hf, path)
    fields = read_gguf_fields(path)
    assert fields["tokenizer.ggml.pre"] == "gpt2"
    reloaded, rebuilt = load_gguf(path, dtype=torch.float32)
    for text in ("the cat sat on the mat", "def f(x):\n    return x<|im_end|>", "zebra 123 ünïcödé"):
        assert rebuilt.encode(text, add_special_tokens=False) == hf.encode(text, add_special_tokens=False)
    assert len(tok.get_vocab()) > 258  # merges were learned, so the test exercises them
