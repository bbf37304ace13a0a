"""A HF byte-level BPE tokenizer as GGUF ``tokenizer.ggml.*`` metadata (llama.cpp's "gpt2" model).

The token list is padded to the model's vocabulary size (llama.cpp requires one entry per embedding
row) with ``[PAD<i>]`` tokens marked unused, as llama.cpp's own converter does. Specials become
control tokens; other added tokens user-defined, so both llama.cpp and transformers keep them whole.
A vocabulary without merges (the tiny models' byte tokenizer) loads in transformers but not in
llama.cpp, which requires ``tokenizer.ggml.merges``; ``tokenizer_notes`` says so.
"""

from __future__ import annotations

import json

from fastprune.errors import FastpruneError

# gguf.TokenType values (kept as ints so this module imports without gguf)
NORMAL, CONTROL, USER_DEFINED, UNUSED = 1, 3, 4, 5


def tokenizer_metadata(tokenizer, vocab_size: int) -> dict:
    """``{"tokens", "token_types", "merges", "pre", "bos"/"eos"/"pad"/"unk" ids, "add_bos", "chat_template"}``."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise FastpruneError("GGUF export needs a fast (tokenizers) tokenizer saved with the checkpoint")
    spec = json.loads(backend.to_str())
    model = spec.get("model", {})
    if model.get("type") != "BPE" or not _is_byte_level(spec):
        raise FastpruneError(
            f"GGUF export writes byte-level BPE tokenizers (llama.cpp 'gpt2'); this one is a "
            f"{model.get('type')} tokenizer{'' if _is_byte_level(spec) else ' without byte-level pre-tokenization'}"
        )
    vocab = tokenizer.get_vocab()
    if max(vocab.values()) >= vocab_size:
        raise FastpruneError(
            f"the tokenizer has ids up to {max(vocab.values())} but the model embeds only {vocab_size} tokens"
        )
    tokens = [f"[PAD{i}]" for i in range(vocab_size)]
    types = [UNUSED] * vocab_size
    for token, index in vocab.items():
        tokens[index] = token
        types[index] = NORMAL
    for index, added in tokenizer.added_tokens_decoder.items():
        if index < vocab_size:
            types[index] = CONTROL if added.special else USER_DEFINED
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    meta = {
        "tokens": tokens,
        "token_types": types,
        "merges": merges,
        "pre": pre_tokenizer_name(spec),
        "add_bos": bool(getattr(tokenizer, "add_bos_token", False)),
        "chat_template": tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None,
    }
    for role in ("bos", "eos", "pad", "unk"):
        meta[role] = getattr(tokenizer, f"{role}_token_id", None)
    return meta


def tokenizer_notes(meta: dict) -> list[str]:
    if meta["merges"]:
        return []
    return ["the tokenizer has no BPE merges: transformers rebuilds it, llama.cpp refuses a 'gpt2' vocabulary "
            "without tokenizer.ggml.merges"]


def write_tokenizer(writer, meta: dict) -> None:
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(meta["pre"])
    writer.add_token_list(meta["tokens"])
    writer.add_token_types(meta["token_types"])
    if meta["merges"]:
        writer.add_token_merges(meta["merges"])
    else:
        # GGUF has no empty arrays; without merges transformers derives them from token scores (none
        # here, as no token of a merge-free vocabulary is two others joined). llama.cpp requires merges.
        writer.add_token_scores([0.0] * len(meta["tokens"]))
    for role, add in (("bos", writer.add_bos_token_id), ("eos", writer.add_eos_token_id),
                      ("pad", writer.add_pad_token_id), ("unk", writer.add_unk_token_id)):
        if meta[role] is not None:
            add(int(meta[role]))
    writer.add_add_bos_token(meta["add_bos"])
    if meta["chat_template"]:
        writer.add_chat_template(meta["chat_template"])


def _is_byte_level(spec: dict) -> bool:
    def has(node) -> bool:
        if not isinstance(node, dict):
            return False
        if node.get("type") == "ByteLevel":
            return True
        return any(has(child) for child in node.get("pretokenizers", []) + node.get("decoders", []))

    return has(spec.get("pre_tokenizer")) or has(spec.get("decoder"))


def pre_tokenizer_name(spec: dict) -> str:
    """llama.cpp's ``tokenizer.ggml.pre`` name for this pre-tokenizer: the one transformers' GGUF loader
    maps back to the same split regex, ``gpt2`` for plain GPT-2 byte-level, else ``default``. A name that
    does not rebuild the same tokenizer is caught by the export's tokenizer check."""
    try:  # where transformers keeps the pre-tokenizer names it maps back to split regexes
        from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_PRE_TOKENIZER_SPLITS
    except ImportError:  # older transformers: no such table, only the byte-level default
        GGUF_PRE_TOKENIZER_SPLITS = {}

    pre = spec.get("pre_tokenizer") or {}
    if pre.get("type") == "ByteLevel":
        return "gpt2" if pre.get("use_regex", True) else "default"
    for child in pre.get("pretokenizers", []):
        regex = (child.get("pattern") or {}).get("Regex") if child.get("type") == "Split" else None
        if regex is not None:
            for name, split in GGUF_PRE_TOKENIZER_SPLITS.items():
                if split == regex:
                    return name
    return "default"
