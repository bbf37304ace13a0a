"""Text prompts to token ids: through the tokenizer's chat template, or raw."""

from __future__ import annotations

from fastprune.data.chat import chat_messages, has_chat_template, render_chat
from fastprune.errors import FastpruneError


def encode_prompt(tokenizer, prompt: str | list[dict], chat: bool = True, system_prompt: str | None = None
                  ) -> list[int]:
    """Token ids of ``prompt`` (a string, or a messages list, which implies the chat template)."""
    if tokenizer is None:
        raise FastpruneError("encoding text prompts needs a tokenizer; the model was loaded without one")
    if chat or not isinstance(prompt, str):
        if not has_chat_template(tokenizer):
            raise FastpruneError("the tokenizer has no chat template; pass chat=False (--no-chat-template) "
                                 "to feed the raw prompt text")
        return render_chat(tokenizer, chat_messages(prompt, system_prompt))
    return tokenizer(prompt)["input_ids"]
