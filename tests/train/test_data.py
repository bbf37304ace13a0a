import json

import pytest

from fastprune.errors import FastpruneError
from fastprune.models import byte_tokenizer
from fastprune.train.data import IGNORE, Renderer, build_examples, read_rows

from .conftest import write_jsonl


def _decoded_targets(tok, ex) -> str:
    return tok.decode([t for t in ex.targets if t != IGNORE], skip_special_tokens=False)


@pytest.mark.embedded
def test_mask_on_real_gsm8k_rows_keeps_exactly_response_and_end_token(embedded, shared_data, tmp_path):
    with open(f"{shared_data}/gsm8k/train.jsonl") as f:
        src = [json.loads(next(f)) for _ in range(8)]
    rows = [{"id": str(i), "prompt": [{"role": "user", "content": r["question"]}], "response": r["answer"],
             "num_tokens": 0, "finish_reason": "eos"} for i, r in enumerate(src)]
    path = write_jsonl(tmp_path / "gsm.jsonl", rows)
    tok = embedded.tokenizer
    examples, stats = build_examples(read_rows(path), Renderer(tok), max_seq_len=4096)
    assert stats.examples == 8 and stats.truncated == 0
    for ex, row in zip(examples, src, strict=True):
        assert _decoded_targets(tok, ex) == row["answer"] + "<|im_end|>"
        # The unmasked part is a suffix of the sequence; everything before it is the rendered prompt.
        n = ex.num_targets
        assert ex.input_ids[-n:] == [t for t in ex.targets if t != IGNORE]
        prompt_text = tok.decode(ex.input_ids[:-n])
        assert prompt_text.endswith(row["question"] + "<|im_end|>\n<|im_start|>assistant\n")
        assert all(t == IGNORE for t in ex.targets[-1:])


def test_generic_chat_rows_and_plain_string_prompts(tmp_path):
    rows = [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                          {"role": "assistant", "content": "Hello!"}]},
            {"prompt": "2+2?", "response": "4"}]
    tok = byte_tokenizer()
    (a, b), _ = build_examples(read_rows(write_jsonl(tmp_path / "c.jsonl", rows)), Renderer(tok), 512)
    assert _decoded_targets(tok, a) == "Hello!<|im_end|>"
    assert "<|im_start|>system\nBe brief." in tok.decode(a.input_ids)
    assert _decoded_targets(tok, b) == "4<|im_end|>"
    assert tok.decode(b.input_ids).startswith("<|im_start|>user\n2+2?<|im_end|>")


def test_no_chat_template_concatenates_prompt_and_response(tmp_path):
    tok = byte_tokenizer()
    tok.chat_template = None
    rows = read_rows(write_jsonl(tmp_path / "r.jsonl", [{"prompt": "def f():\n", "response": "    return 2"}]))
    with pytest.raises(FastpruneError, match="--no-chat-template"):
        Renderer(tok)
    (ex,), _ = build_examples(rows, Renderer(tok, use_chat_template=False), 64)
    # the response continues the prompt as generate fed it: no separator added
    assert tok.decode(ex.input_ids, skip_special_tokens=False) == "def f():\n    return 2<|im_end|>"
    assert _decoded_targets(tok, ex) == "    return 2<|im_end|>"


@pytest.mark.parametrize("chat", [True, False])
def test_rows_written_by_generate_pair_prompt_and_response_as_generated(tiny, tmp_path, chat):
    from fastprune.engines.encoding import encode_prompt
    from fastprune.generate.prompts import Prompt
    from fastprune.generate.self_responses import SelfResponseConfig, run_self_responses

    loaded = tiny("llama", layers=1)
    prompts = [Prompt("code/0", "def add(a, b):\n"), Prompt("q/1", " What is 2 + 2? ")]
    out = tmp_path / "sr.jsonl"
    run_self_responses(loaded, prompts, out, SelfResponseConfig(chat=chat, temperature=0, max_new_tokens=4,
                                                                batch_size=2), progress=False)
    tok = loaded.tokenizer
    renderer = Renderer(tok, use_chat_template=chat)
    written = [json.loads(line) for line in out.read_text().splitlines()]  # in completion order
    by_id = {p.id: p for p in prompts}
    for row, (prompt, response) in zip(written, read_rows(out), strict=True):
        p = by_id[row["id"]]
        assert response == row["response"]
        # the trainer's prompt tokens are exactly the tokens generate fed the model
        assert renderer.prompt_ids(prompt) == encode_prompt(tok, p.text, chat=chat)
        ex = renderer.render(prompt, response)
        assert ex.input_ids[: len(renderer.prompt_ids(prompt))] == encode_prompt(tok, p.text, chat=chat)


def test_truncation_counts_rows_and_drops_rows_without_response_tokens(tmp_path):
    tok = byte_tokenizer()
    rows = read_rows(write_jsonl(tmp_path / "r.jsonl", [
        {"prompt": "short", "response": "x" * 200},  # truncated, keeps some response
        {"prompt": "p" * 300, "response": "y"},  # prompt alone fills the window: dropped
        {"prompt": "ok", "response": "fine"},
    ]))
    examples, stats = build_examples(rows, Renderer(tok), max_seq_len=64)
    assert (stats.rows, stats.examples, stats.truncated, stats.dropped) == (3, 2, 2, 1)
    assert all(len(ex.input_ids) <= 64 for ex in examples)
    cut = examples[0]
    assert cut.targets[-1] == IGNORE and set(tok.decode([t for t in cut.targets if t != IGNORE])) == {"x"}
    assert any("truncated" in n for n in stats.notes) and any("dropped" in n for n in stats.notes)


@pytest.mark.parametrize("content, match", [
    ("", "has no rows"),
    ('{"prompt": "a"}\n', "missing response"),
    ('{"response": "a"}\n', "missing prompt"),
    ("not json\n", "not valid JSON"),
    ('{"prompt": [{"role": "user"}], "response": "a"}\n', "string 'role' and 'content'"),
    ('{"messages": [{"role": "user", "content": "q"}]}\n', "last message must be the assistant"),
    ('{"prompt": "a", "response": 3}\n', "'response' must be a string"),
])
def test_bad_rows_are_clear_errors_naming_the_line(tmp_path, content, match):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(FastpruneError, match=match) as info:
        read_rows(path)
    if content:
        assert "bad.jsonl:1" in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FastpruneError, match="does not exist"):
        read_rows(tmp_path / "nope.jsonl")
