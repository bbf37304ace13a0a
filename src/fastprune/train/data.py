"""Self-response rows -> token ids with response-only targets.

A row is either what ``fastprune generate`` writes (``prompt`` as chat messages or a plain string, plus
``response``) or generic chat JSONL (``messages`` whose last message is the assistant's). The prompt is
rendered exactly as the model saw it when the response was generated (chat template with
``add_generation_prompt=True``), then the response tokens and the template's end-of-turn token follow.
Only those last tokens are trained on.

Targets are stored already shifted (``targets[t]`` is the token that position ``t`` must predict, -100 for
no loss), so packing several examples into one sequence can never make the last token of one example
predict the first token of the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fastprune.data.chat import chat_messages, end_of_turn_id, has_chat_template, render_chat
from fastprune.data.jsonl import read_jsonl
from fastprune.errors import FastpruneError

IGNORE = -100


@dataclass
class Example:
    input_ids: list[int]
    targets: list[int]  # same length; IGNORE where no loss

    @property
    def num_targets(self) -> int:
        return sum(t != IGNORE for t in self.targets)


@dataclass
class DataStats:
    rows: int = 0
    examples: int = 0  # rows that kept at least one response token
    truncated: int = 0  # rows cut to max_seq_len
    dropped: int = 0  # rows whose prompt alone filled max_seq_len: nothing left to learn from
    target_tokens: int = 0
    tokens: int = 0
    notes: list[str] = field(default_factory=list)


def read_rows(path: str | Path) -> list[tuple[list[dict] | str, str]]:
    """``(prompt, response)`` pairs of a JSONL file; every problem names the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FastpruneError(f"training data {path} does not exist; pass the JSONL written by "
                             "'fastprune generate' (or chat-format JSONL) with --data")
    invalid = "{path}:{line} is not valid JSON ({msg}); each line must be one object"
    rows = [_row_pair(row, f"{path}:{lineno}") for lineno, row in read_jsonl(path, invalid)]
    if not rows:
        raise FastpruneError(f"training data {path} has no rows; generate self-responses first "
                             "('fastprune generate MODEL --out FILE.jsonl')")
    return rows


def _row_pair(row, where: str) -> tuple[list[dict] | str, str]:
    if not isinstance(row, dict):
        raise FastpruneError(f"{where}: expected a JSON object, got {type(row).__name__}")
    if "messages" in row and "response" not in row:
        msgs = row["messages"]
        _check_messages(msgs, where)
        if len(msgs) < 2 or msgs[-1].get("role") != "assistant":
            raise FastpruneError(f"{where}: in chat-format rows the last message must be the assistant's "
                                 "answer and come after at least one prompt message")
        return msgs[:-1], msgs[-1]["content"]
    missing = [k for k in ("prompt", "response") if k not in row]
    if missing:
        raise FastpruneError(f"{where}: row is missing {', '.join(missing)}; rows need 'prompt' and "
                             "'response' (fastprune generate format) or a 'messages' list")
    prompt, response = row["prompt"], row["response"]
    if not isinstance(response, str):
        raise FastpruneError(f"{where}: 'response' must be a string, got {type(response).__name__}")
    if isinstance(prompt, list):
        _check_messages(prompt, where)
    elif not isinstance(prompt, str):
        raise FastpruneError(f"{where}: 'prompt' must be a string or a list of chat messages")
    return prompt, response


def _check_messages(msgs, where: str) -> None:
    if not isinstance(msgs, list) or not msgs:
        raise FastpruneError(f"{where}: messages must be a non-empty list of {{'role', 'content'}} objects")
    for m in msgs:
        if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
            raise FastpruneError(f"{where}: every message needs string 'role' and 'content', got {m!r:.80}")


class Renderer:
    """Turns ``(prompt, response)`` into an ``Example`` for one tokenizer."""

    def __init__(self, tokenizer, use_chat_template: bool = True):
        if tokenizer is None:
            raise FastpruneError("the model has no tokenizer; training needs one to read the data")
        self.tok = tokenizer
        self.use_chat_template = use_chat_template
        if use_chat_template and not has_chat_template(tokenizer):
            raise FastpruneError("the model's tokenizer has no chat template; pass --no-chat-template to "
                                 "train on plain prompt + response text instead")
        self.end_id = self._end_of_turn_id()

    def _end_of_turn_id(self) -> int:
        """The special token the template writes right after an assistant message (e.g. <|im_end|>,
        <|eot_id|>, <end_of_turn>); EOS when the template closes turns with plain text or not at all."""
        end = end_of_turn_id(self.tok, self.use_chat_template)
        if end is None:
            raise FastpruneError("the tokenizer has no EOS token and the chat template no end-of-turn token; "
                                 "the model could never learn to stop")
        return end

    def prompt_ids(self, prompt: list[dict] | str) -> list[int]:
        if self.use_chat_template:
            return render_chat(self.tok, chat_messages(prompt))
        text = prompt if isinstance(prompt, str) else "\n\n".join(m["content"] for m in prompt)
        return list(self.tok(text, add_special_tokens=True)["input_ids"])

    def render(self, prompt: list[dict] | str, response: str) -> Example:
        head = self.prompt_ids(prompt)
        # No separator: a raw self-response continues its prompt exactly as written (generate fed the text
        # as given, so a code prompt's own trailing newline is already part of it).
        answer = list(self.tok(response, add_special_tokens=False)["input_ids"]) + [self.end_id]
        ids = head + answer
        # Position t predicts ids[t+1]; only answer tokens are predicted (the last prompt token predicts the
        # first answer token; with an empty prompt nothing predicts the very first token).
        targets = [IGNORE] * len(ids)
        for t in range(len(head) - 1 if head else 0, len(ids) - 1):
            targets[t] = ids[t + 1]
        return Example(ids, targets)


def build_examples(rows, renderer: Renderer, max_seq_len: int) -> tuple[list[Example], DataStats]:
    """Render and truncate every row; rows left without any target token are dropped (counted)."""
    if max_seq_len < 2:
        raise FastpruneError(f"--max-seq-len must be at least 2, not {max_seq_len}")
    stats = DataStats(rows=len(rows))
    out = []
    for prompt, response in rows:
        ex = renderer.render(prompt, response)
        if len(ex.input_ids) > max_seq_len:
            stats.truncated += 1
            # The last kept position has no next token inside the window: it cannot carry a target.
            ex = Example(ex.input_ids[:max_seq_len], ex.targets[: max_seq_len - 1] + [IGNORE])
        if ex.num_targets == 0:
            stats.dropped += 1
            continue
        out.append(ex)
        stats.tokens += len(ex.input_ids)
        stats.target_tokens += ex.num_targets
    stats.examples = len(out)
    if stats.truncated:
        stats.notes.append(f"{stats.truncated} of {stats.rows} rows were longer than --max-seq-len "
                           f"{max_seq_len} and were truncated")
    if stats.dropped:
        stats.notes.append(f"{stats.dropped} rows had no response token left after truncation and were dropped")
    if not out:
        raise FastpruneError(f"no training example has a response token within --max-seq-len {max_seq_len}; "
                             "raise --max-seq-len")
    return out, stats
