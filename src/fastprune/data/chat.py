"""Chat-template rendering: one definition for generate, self-responses, train and eval.

Train must see exactly the tokens generate fed the model, or the response-only loss lands on shifted
positions without any error; so every stage builds its messages and renders them here.
"""

from __future__ import annotations

_MARK = "\x00FASTPRUNE-RESPONSE\x00"


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def chat_messages(prompt: str | list[dict], system: str | None = None) -> list[dict]:
    """A string prompt as a one-turn user chat (after a ``system`` message when one is given); a messages
    list as it is (``system`` applies only to string prompts: a chat already says what it wants)."""
    if not isinstance(prompt, str):
        return list(prompt)
    messages = [{"role": "user", "content": prompt}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    return messages


def render_chat(tokenizer, messages: list[dict]) -> list[int]:
    """Token ids of ``messages`` through the chat template, ending with the opening of the assistant's turn.

    The template is rendered to text and then tokenized without added special tokens, because the template
    already holds them (a second BOS would change the model's input).
    """
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def end_of_turn_id(tokenizer, chat: bool = True) -> int | None:
    """The special token the template writes right after an assistant message (e.g. <|im_end|>,
    <|eot_id|>, <end_of_turn>); EOS when the template closes turns with plain text or not at all (or
    ``chat`` is off); None when there is neither."""
    if chat:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": "q"}, {"role": "assistant", "content": _MARK}], tokenize=False)
        tail = text.split(_MARK, 1)[-1] if _MARK in text else ""
        ids = tokenizer(tail, add_special_tokens=False)["input_ids"] if tail else []
        specials = set(tokenizer.all_special_ids) | set(getattr(tokenizer, "added_tokens_decoder", {}))
        if ids and ids[0] in specials:
            return int(ids[0])
    eos = tokenizer.eos_token_id
    return None if eos is None else int(eos)
