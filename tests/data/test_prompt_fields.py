import pytest

from fastprune.data.prompt_fields import INSTRUCTION_INPUT, detect_prompt_field, prompt_value
from fastprune.errors import FastpruneError


@pytest.mark.parametrize(("record", "field", "prompt"), [
    ({"id": "p0", "prompt": "import numpy as np\n"}, "prompt", "import numpy as np\n"),
    ({"question": "  2 + 2?", "answer": "4"}, "question", "  2 + 2?"),
    ({"instruction": "Sort it.", "input": "[3, 1]", "output": "[1, 3]"}, INSTRUCTION_INPUT, "Sort it.\n\n[3, 1]"),
    ({"instruction": "Say hi.", "input": "", "output": "hi"}, INSTRUCTION_INPUT, "Say hi."),
    ({"instruction": "Say hi."}, "instruction", "Say hi."),
    ({"text": "once upon"}, "text", "once upon"),
    ({"problem": "Find x.", "solution": "x=1"}, "problem", "Find x."),
    ({"prompt": "same", "text": "same"}, "prompt", "same"),  # equal values do not conflict
    ({"prompt": "", "question": "q?"}, "question", "q?"),  # an empty field is not a candidate
])
def test_usual_names_are_detected_and_values_pass_unchanged(record, field, prompt):
    assert detect_prompt_field(record, "f.jsonl:1") == field
    assert prompt_value(record, field, "f.jsonl:1") == prompt


def test_messages_prompt_drops_the_trailing_answer():
    record = {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi\n"},
                           {"role": "assistant", "content": "hello"}]}
    assert detect_prompt_field(record, "w") == "messages"
    assert prompt_value(record, "messages", "w") == record["messages"][:2]


@pytest.mark.parametrize(("record", "message"), [
    ({"id": 1, "answer": "4"}, r"f\.jsonl:3: no prompt field found .*the record has: id, answer"),
    ({"prompt": "a", "question": "b"}, r"f\.jsonl:3: several prompt fields with different values "
                                       r"\(prompt, question\); choose one with --field"),
    (["not", "an", "object"], r"f\.jsonl:3: expected a JSON object, got list"),
])
def test_none_or_conflicting_fields_fail_clearly(record, message):
    with pytest.raises(FastpruneError, match=message):
        detect_prompt_field(record, "f.jsonl:3")


@pytest.mark.parametrize(("record", "field", "message"), [
    ({"prompt": 3}, "prompt", "field 'prompt' is int, not text"),
    ({"question": "q"}, "prompt", r"no field 'prompt' \(the record has: question\)"),
    ({"messages": [{"role": "assistant", "content": "x"}]}, "messages", "only an assistant answer"),
    ({"messages": [{"role": "user"}]}, "messages", "must be a non-empty list"),
    ({"instruction": "a", "input": 5}, INSTRUCTION_INPUT, "'input' is int"),
])
def test_bad_values_name_the_record(record, field, message):
    with pytest.raises(FastpruneError, match=message):
        prompt_value(record, field, "f.jsonl:7")
