"""``run_eval``: what scores.json records beside the numbers."""

import json

from fastprune.evaluate.runner import PLAIN_CHAT, run_eval
from fastprune.evaluate.task import TaskResult
from fastprune.models import load_model


class OneChatPrompt:
    """Renders one chat prompt and scores nothing: what a zero-shot chat task does before generating."""

    name = "chat_probe"

    def run(self, lm, limit, seed):
        ids = lm.prompt_ids("what is 2+2?", chat=True)
        return TaskResult({"acc": 1.0}, 1, [{"prompt": "what is 2+2?", "ids": len(ids), "correct": True}],
                          primary="acc")


def _scores(tmp_path, template: bool) -> dict:
    def loader(spec):
        loaded = load_model("tiny:qwen2:2", dtype="float32", seed=0)
        if not template:
            loaded.tokenizer.chat_template = None
        return loaded

    run_eval(["m"], [OneChatPrompt()], tmp_path / str(template), loader=loader, progress=False,
             log=lambda *a, **k: None)
    return json.loads((tmp_path / str(template) / "scores.json").read_text())["m"]["chat_probe"]


def test_a_chat_prompt_without_a_template_is_recorded_not_silent(tmp_path, caplog):
    with_template = _scores(tmp_path, template=True)
    assert "chat_prompts" not in with_template["meta"]
    without = _scores(tmp_path, template=False)
    assert without["meta"]["chat_prompts"] == PLAIN_CHAT
    assert any(f"chat_probe: 1 chat prompt(s) {PLAIN_CHAT}" in r.message for r in caplog.records)
