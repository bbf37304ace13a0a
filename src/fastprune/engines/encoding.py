"""Text prompts to token ids: through the tokenizer's chat template, or raw."""

from __future__ import annotations

from fastprune.errors import FastpruneError


def encode_prompt(tokenizer, prompt: str | list[dict], chat: bool = True, system_prompt: str | None = None
                  ) -> list[int]:
    """Token ids of ``prompt`` (a string, or a messages list, which implies the chat template).

    The template is rendered to text and then tokenized without added special tokens, because the template
    already holds them (a second BOS would change the model's input).
    """
    if tokenizer is None:
        raise FastpruneError("encoding text prompts needs a tokenizer; the model was loaded without one")
    if chat or not isinstance(prompt, str):
        if not getattr(tokenizer, "chat_template", None):
            raise FastpruneError("the tokenizer has no chat template; pass chat=False (--no-chat-template) "
                                 "to feed the raw prompt text")
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        if system_prompt is not None and isinstance(prompt, str):
            messages.insert(0, {"role": "system", "content": system_prompt})
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return tokenizer(text, add_special_tokens=False)["input_ids"]
    return tokenizer(prompt)["input_ids"]
