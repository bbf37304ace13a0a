"""Which field of a record is the prompt, when the user did not say: the usual names, detected once.

A record names its prompt ``prompt``, ``question``, ``instruction`` (with an optional ``input``, as in
Alpaca), ``messages`` (a chat), ``text`` or ``problem``. The field is chosen from the first record and
every later record must have it; a record holding several of them with different values is ambiguous and
refused (``--field`` settles it). Values pass through unchanged: no stripping, no reformatting.
"""

from __future__ import annotations

from fastprune.errors import FastpruneError

PROMPT_FIELDS = ("prompt", "question", "instruction", "messages", "text", "problem")
INSTRUCTION_INPUT = "instruction+input"  # how the Alpaca pair is reported


def _present(record: dict) -> list[str]:
    return [name for name in PROMPT_FIELDS if record.get(name) not in (None, "", [])]


def detect_prompt_field(record, where: str) -> str:
    """The prompt field of ``record`` (``instruction+input`` for an Alpaca pair), or a clear error."""
    if not isinstance(record, dict):
        raise FastpruneError(f"{where}: expected a JSON object, got {type(record).__name__}")
    present = _present(record)
    if not present:
        keys = ", ".join(map(str, record)) or "(none)"
        raise FastpruneError(
            f"{where}: no prompt field found (looked for {', '.join(PROMPT_FIELDS)}; the record has: {keys}); "
            "name it with --field or combine fields with --template")
    values = {name: record[name] for name in present}
    distinct = {repr(v) for v in values.values()}
    if len(distinct) > 1:
        raise FastpruneError(
            f"{where}: several prompt fields with different values ({', '.join(present)}); choose one with "
            "--field")
    name = present[0]
    if name == "instruction" and "input" in record:
        return INSTRUCTION_INPUT
    return name


def prompt_value(record, name: str, where: str) -> str | list[dict]:
    """The prompt of ``record`` under field ``name``: a string as given, or the messages before the answer.

    ``instruction+input`` joins a non-empty input to the instruction with a blank line (Alpaca's layout);
    a chat's trailing assistant message is its reference answer, not part of the prompt.
    """
    if not isinstance(record, dict):
        raise FastpruneError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if name == INSTRUCTION_INPUT:
        instruction = _string(record, "instruction", where)
        extra = record.get("input")
        if extra in (None, ""):
            return instruction
        if not isinstance(extra, str):
            raise FastpruneError(f"{where}: field 'input' is {type(extra).__name__}, not text")
        return f"{instruction}\n\n{extra}"
    if name == "messages":
        return _messages(record, where)
    return _string(record, name, where)


def _string(record: dict, name: str, where: str) -> str:
    if name not in record:
        keys = ", ".join(map(str, record)) or "(none)"
        raise FastpruneError(f"{where}: no field {name!r} (the record has: {keys})")
    value = record[name]
    if not isinstance(value, str):
        raise FastpruneError(f"{where}: field {name!r} is {type(value).__name__}, not text; use --template "
                             "to format it")
    return value


def _messages(record: dict, where: str) -> list[dict]:
    msgs = record.get("messages")
    if not isinstance(msgs, list) or not msgs or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in msgs):
        raise FastpruneError(f"{where}: 'messages' must be a non-empty list of {{'role', 'content'}} objects "
                             "with string values")
    if msgs[-1]["role"] == "assistant":
        msgs = msgs[:-1]
    if not msgs:
        raise FastpruneError(f"{where}: 'messages' holds only an assistant answer, no prompt")
    return [{"role": m["role"], "content": m["content"]} for m in msgs]
