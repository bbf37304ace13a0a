"""Tiny random-weight models of every supported family, and a byte-level tokenizer for them.

They make tests fast and offline: no hub, no weights on disk, seconds to build. The byte tokenizer is
also what ``random:NAME`` models get, so every stage can run on them end to end.
"""

from __future__ import annotations

import torch
import transformers

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
BYTE_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
TINY_VOCAB = 320

# Each family keeps what makes it structurally distinct (biases, qk-norm, sliding windows, tied
# embeddings, fused projections), shrunk to a few thousand parameters per layer.
_BASE = dict(
    hidden_size=64,
    intermediate_size=128,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    vocab_size=TINY_VOCAB,
    max_position_embeddings=512,
    bos_token_id=256,
    eos_token_id=258,
    pad_token_id=259,
)
TINY_FAMILIES: dict[str, tuple[str, dict]] = {
    "llama": ("LlamaConfig", {"tie_word_embeddings": True}),
    "qwen2": ("Qwen2Config", {}),
    "qwen3": ("Qwen3Config", {}),
    "mistral": ("MistralConfig", {"sliding_window": 64}),
    "gemma2": ("Gemma2Config", {"sliding_window": 32, "query_pre_attn_scalar": 16}),
    "gemma3": ("Gemma3TextConfig", {"sliding_window": 32, "sliding_window_pattern": 2, "query_pre_attn_scalar": 16}),
    "phi3": ("Phi3Config", {}),
}


def tiny_config(family: str, num_layers: int = 6, **overrides) -> transformers.PretrainedConfig:
    """Config of a tiny model of ``family`` (one of ``TINY_FAMILIES``) with ``num_layers`` layers."""
    if family not in TINY_FAMILIES:
        raise ValueError(f"unknown tiny family {family!r}; known: {', '.join(TINY_FAMILIES)}")
    cls_name, extra = TINY_FAMILIES[family]
    kwargs = {**_BASE, **extra, "num_hidden_layers": num_layers, **overrides}
    if family == "gemma3":
        kwargs.pop("sliding_window_pattern")
        kwargs["layer_types"] = [
            "full_attention" if (i + 1) % 2 == 0 else "sliding_attention" for i in range(num_layers)
        ]
    if family == "phi3":
        kwargs.pop("head_dim")
    return getattr(transformers, cls_name)(**kwargs)


def tiny_model(family: str, num_layers: int = 6, seed: int = 0, dtype=torch.float32, **overrides):
    """A tiny random-weight causal LM of ``family`` in eval mode, reproducible from ``seed``."""
    config = tiny_config(family, num_layers, **overrides)
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=dtype)
    # Random init leaves residual updates tiny next to the embeddings; scaling the embeddings down makes
    # layers actually change the hidden state, so importance metrics and pruning tests are meaningful.
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(0.1)
    return model.eval()


def byte_tokenizer() -> transformers.PreTrainedTokenizerFast:
    """A byte-level tokenizer (ids 0-255 are bytes, then ChatML specials) with a ChatML chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    byte_to_unicode = sorted(alphabet, key=lambda ch: _byte_of(ch))
    vocab = {ch: i for i, ch in enumerate(byte_to_unicode)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(BYTE_SPECIAL_TOKENS)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        chat_template=CHATML_TEMPLATE,
        model_max_length=1 << 20,
    )


def _byte_of(ch: str) -> int:
    # GPT-2's byte-to-unicode map: printable bytes map to themselves, the rest to 256 + k in order.
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    code = ord(ch)
    if code in printable:
        return code
    others = [b for b in range(256) if b not in printable]
    return others[code - 256]
