"""data.chat: one chat rendering, so train trains on exactly the tokens generate fed and produced."""

import json

import pytest
import torch

from fastprune.data.chat import chat_messages, end_of_turn_id, has_chat_template, render_chat
from fastprune.engines.native.engine import GenerationEngine
from fastprune.generate.prompts import Prompt
from fastprune.generate.self_responses import SelfResponseConfig, run_self_responses
from fastprune.models import byte_tokenizer
from fastprune.train.data import IGNORE, Renderer, read_rows


def test_chat_messages_wraps_strings_and_keeps_chats():
    assert chat_messages("hi") == [{"role": "user", "content": "hi"}]
    assert chat_messages("hi", "be brief") == [{"role": "system", "content": "be brief"},
                                               {"role": "user", "content": "hi"}]
    assert chat_messages("hi", "") == [{"role": "system", "content": ""}, {"role": "user", "content": "hi"}]
    chat = [{"role": "user", "content": "q"}]
    assert chat_messages(chat, "ignored") == chat and chat_messages(chat) is not chat


def test_render_chat_adds_no_second_bos_and_opens_the_assistant_turn():
    tok = byte_tokenizer()
    ids = render_chat(tok, chat_messages(" x "))
    assert tok.decode(ids, skip_special_tokens=False) == "<|im_start|>user\n x <|im_end|>\n<|im_start|>assistant\n"
    assert ids == list(tok.apply_chat_template(chat_messages(" x "), add_generation_prompt=True, tokenize=True,
                                               return_dict=True)["input_ids"])


def test_end_of_turn_is_the_templates_special_token_or_eos():
    tok = byte_tokenizer()
    assert has_chat_template(tok) and not has_chat_template(None)
    assert end_of_turn_id(tok) == tok.convert_tokens_to_ids("<|im_end|>")
    assert end_of_turn_id(tok, chat=False) == tok.eos_token_id


class _Script:
    """Makes a model's greedy choice follow ``text`` after its prompt: each input token's logits favour its
    successor in the script, so the real engine, stops and decoding run on a known answer."""

    def __init__(self, model, tok, text: str, start: int):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert len(set(ids)) == len(ids), "the script's tokens must be distinct"
        chain = [start, *ids]
        self.next = {a: b for a, b in zip(chain, chain[1:] + [tok.convert_tokens_to_ids("<|im_end|>")], strict=True)}
        self.handle = model.register_forward_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs, out):
        ids = kwargs["input_ids"]
        keep = kwargs.get("logits_to_keep", 0)
        rows = ids[:, keep] if torch.is_tensor(keep) else ids[:, -out.logits.shape[1]:]
        want = rows.cpu().apply_(lambda t: self.next.get(t, 0)).to(out.logits.device)
        out.logits = torch.full_like(out.logits, -30.0).scatter_(-1, want[..., None], 30.0)
        return out


def _generate_then_render(loaded, prompts, out, cfg, engine):
    """Rows written by generate, and what the engine fed and produced for each id."""
    seen = {}
    inner = engine.stream

    def stream(requests, progress=False):
        for index, result in inner(requests, progress):
            seen[requests[index].id] = (list(requests[index].prompt_ids), list(result.token_ids), result)
            yield index, result

    engine.stream = stream
    run_self_responses(loaded, prompts, out, cfg, progress=False, engine=engine)
    return seen


def _assert_train_sees_what_generate_did(tok, out, seen, chat=True):
    renderer = Renderer(tok, use_chat_template=chat)
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert len(ids) == len(seen)
    for key, (prompt, response) in zip(ids, read_rows(out), strict=True):
        fed, produced, result = seen[key]
        assert result.finish_reason == "eos" and produced[-1] == renderer.end_id
        ex = renderer.render(prompt, response)
        assert ex.input_ids == fed + produced
        # the loss falls on exactly the generated tokens, each predicted from the position before it
        mask = [t != IGNORE for t in ex.targets]
        assert mask == [False] * (len(fed) - 1) + [True] * len(produced) + [False]
        assert [t for t in ex.targets if t != IGNORE] == produced


@pytest.mark.parametrize("system", [None, "Answer briefly."])
def test_train_renders_a_self_response_row_as_generate_fed_and_produced_it(tiny, tmp_path, system):
    loaded = tiny("qwen2", layers=1)
    tok = loaded.tokenizer
    engine = GenerationEngine(loaded, max_batch_size=2, max_seq_len=128, runner="hf")
    _Script(loaded.model, tok, "Yes: 42.", start=tok("\n", add_special_tokens=False)["input_ids"][0])
    prompts = [Prompt("a", " What is 6 x 7? "), Prompt("b", [{"role": "user", "content": "and 40 + 2?"}])]
    out = tmp_path / "sr.jsonl"
    cfg = SelfResponseConfig(system_prompt=system, temperature=0, max_new_tokens=32, batch_size=2)
    seen = _generate_then_render(loaded, prompts, out, cfg, engine)
    _assert_train_sees_what_generate_did(tok, out, seen)
    assert {r[2].text for r in seen.values()} == {"Yes: 42."}


@pytest.mark.embedded
def test_embedded_model_self_responses_render_back_to_the_same_tokens(embedded, tmp_path):
    prompts = [Prompt("a", "What is 2 + 2? Answer in one sentence."),
               Prompt("b", "Name a colour.")]
    out = tmp_path / "sr.jsonl"
    cfg = SelfResponseConfig(system_prompt="You are concise.", temperature=0, max_new_tokens=48, batch_size=2)
    engine = GenerationEngine(embedded, max_batch_size=2, max_seq_len=256)
    seen = _generate_then_render(embedded, prompts, out, cfg, engine)
    _assert_train_sees_what_generate_did(embedded.tokenizer, out, seen)
