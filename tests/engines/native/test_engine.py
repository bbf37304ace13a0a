"""GenerationEngine: greedy parity with HF generate, continuous batching, pruned models, stops, seeds."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastprune.engines import GenerationEngine, GenerationRequest, SamplingParams
from fastprune.errors import FastpruneError
from fastprune.models import TINY_FAMILIES

# Mixed lengths; the longest prompts plus answers run past the tiny models' sliding windows (32 and 64).
PROMPT_LENGTHS = [5, 41, 12, 70, 1]


def _prompts(lengths=PROMPT_LENGTHS, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (n,), generator=g).tolist() for n in lengths]


def _hf_greedy(model, prompt, max_new_tokens):
    ids = torch.tensor([prompt])
    out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                         max_new_tokens=max_new_tokens, pad_token_id=model.config.pad_token_id)
    return out[0, len(prompt):].tolist()


def _engine_greedy(loaded_or_model, prompts, max_new_tokens, **kwargs):
    engine = GenerationEngine(loaded_or_model, **kwargs)
    reqs = [GenerationRequest(p, SamplingParams(max_new_tokens=max_new_tokens)) for p in prompts]
    return engine, engine.generate(reqs)


@pytest.mark.parametrize("family", sorted(TINY_FAMILIES))
def test_greedy_matches_hf_generate_with_more_requests_than_slots(tiny, family):
    loaded = tiny(family, layers=3)
    prompts = _prompts()
    engine, results = _engine_greedy(loaded, prompts, 24, max_batch_size=2, max_seq_len=128)
    expected_runner = "fast" if family in ("llama", "mistral", "qwen2", "qwen3") else "hf"
    assert engine.runner.name == expected_runner
    for prompt, res in zip(prompts, results, strict=True):
        assert res.prompt_ids == prompt
        assert res.token_ids == _hf_greedy(loaded.model, prompt, 24)
        assert res.num_tokens == len(res.token_ids)


@pytest.mark.parametrize("backend", ["torch", "native"])
def test_greedy_matches_hf_generate_on_either_decode_backend(tiny, backend):
    from fastprune.ops import native

    if backend == "native" and not native.availability("cpu"):
        pytest.skip("fastprune._native_cpu is not built")
    loaded = tiny("qwen3", layers=3)
    prompts = _prompts([9, 30, 3, 17])
    engine, results = _engine_greedy(loaded, prompts, 16, max_batch_size=3, max_seq_len=64, backend=backend)
    assert engine.runner.linear_backend == backend
    assert [r.token_ids for r in results] == [_hf_greedy(loaded.model, p, 16) for p in prompts]


@pytest.mark.parametrize("family", ["llama", "qwen3"])
def test_general_runner_matches_hf_on_fast_path_families(tiny, family):
    loaded = tiny(family, layers=2)
    prompts = _prompts([9, 30, 3])
    engine, results = _engine_greedy(loaded, prompts, 16, max_batch_size=3, max_seq_len=64, runner="hf")
    assert engine.runner.name == "hf"
    assert [r.token_ids for r in results] == [_hf_greedy(loaded.model, p, 16) for p in prompts]


def test_greedy_matches_a_left_padded_hf_batch(tiny):
    loaded = tiny("qwen2", layers=2)
    tok = loaded.tokenizer
    prompts = _prompts([6, 19, 11, 2], seed=1)
    tok.padding_side = "left"
    batch = tok.pad({"input_ids": prompts}, return_tensors="pt")
    out = loaded.model.generate(**batch, do_sample=False, max_new_tokens=12, pad_token_id=tok.pad_token_id)
    _, results = _engine_greedy(loaded, prompts, 12, max_batch_size=4, max_seq_len=64)
    for row, res in zip(out[:, batch["input_ids"].shape[1]:].tolist(), results, strict=True):
        assert row[: res.num_tokens] == res.token_ids


def _drop_layers(model, drop: set[int]):
    """Delete decoder layers the way a pruned checkpoint has them: renumbered, config sliced."""
    cfg = model.config
    keep = [layer for i, layer in enumerate(model.model.layers) if i not in drop]
    if getattr(cfg, "layer_types", None) is not None:
        cfg.layer_types = [t for i, t in enumerate(cfg.layer_types) if i not in drop]
    model.model.layers = nn.ModuleList(keep)
    for i, layer in enumerate(keep):
        layer.self_attn.layer_idx = i
    cfg.num_hidden_layers = len(keep)
    return model


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_pruned_models_generate_like_hf(tiny, family):
    loaded = tiny(family, layers=5)
    model = _drop_layers(loaded.model, {1, 2})
    prompts = _prompts([7, 50, 3], seed=2)
    engine, results = _engine_greedy(model, prompts, 20, max_batch_size=2, max_seq_len=96)
    assert engine.runner.store.num_layers == 3
    assert [r.token_ids for r in results] == [_hf_greedy(model, p, 20) for p in prompts]
    assert sum(k is not None for k in engine.runner.store.keys) == 3


@pytest.mark.embedded
def test_embedded_model_matches_hf_generate(embedded):
    engine = GenerationEngine(embedded, max_batch_size=2, max_seq_len=256)
    prompts = ["What is 7 times 8?", "Write one sentence about rivers and why they matter to cities.",
               "Hi"]
    results = engine.generate_texts(prompts, SamplingParams(max_new_tokens=16))
    for res in results:
        assert res.token_ids == _hf_greedy(embedded.model, res.prompt_ids, 16)
        assert res.text.strip()
    assert results[0].prompt_ids[-3:] == embedded.tokenizer("<|im_start|>assistant\n")["input_ids"][-3:]


def test_finish_reasons_eos_stop_string_and_length(tiny):
    loaded = tiny("llama", layers=2)
    prompt = _prompts([8], seed=3)[0]
    engine = GenerationEngine(loaded, max_batch_size=2, max_seq_len=64)
    free = engine.generate([GenerationRequest(prompt, SamplingParams(max_new_tokens=30))])[0]
    assert free.finish_reason in ("length", "eos")

    # EOS: declare the 6th generated token a stop id; the result ends with it and the text excludes it.
    stop_tok = free.token_ids[5]
    first = free.token_ids.index(stop_tok)
    eos = engine.generate([GenerationRequest(prompt, SamplingParams(30, stop_token_ids=(stop_tok,)))])[0]
    assert eos.finish_reason == "eos" and eos.token_ids == free.token_ids[: first + 1]
    assert eos.text == loaded.tokenizer.decode(free.token_ids[:first], skip_special_tokens=True)

    # Stop string: a piece of the free-running text; the text is cut right before it.
    text = loaded.tokenizer.decode(free.token_ids, skip_special_tokens=True)
    needle = text[10:13]
    cut = text.index(needle)
    hit = engine.generate([GenerationRequest(prompt, SamplingParams(30, stop_strings=(needle,)))])[0]
    assert hit.finish_reason == "stop_string" and hit.text == text[:cut]
    assert hit.token_ids == free.token_ids[: hit.num_tokens]

    # Length: the cache bound caps prompt + answer at max_seq_len.
    short = GenerationEngine(loaded, max_batch_size=1, max_seq_len=12)
    capped = short.generate([GenerationRequest(prompt, SamplingParams(max_new_tokens=30))])[0]
    assert capped.finish_reason == "length" and len(prompt) + capped.num_tokens == 12


def test_seeded_sampling_does_not_depend_on_batch_company(tiny):
    loaded = tiny("qwen2", layers=2)
    prompts = _prompts([10, 4, 22, 15], seed=4)
    params = SamplingParams(max_new_tokens=20, temperature=0.9, top_p=0.95, top_k=50, seed=1234)
    engine = GenerationEngine(loaded, max_batch_size=3, max_seq_len=64)
    alone = engine.generate([GenerationRequest(prompts[2], params)])[0]
    others = [GenerationRequest(p, SamplingParams(max_new_tokens=7 + i, temperature=1.0, seed=i))
              for i, p in enumerate(prompts)]
    mixed = engine.generate(others[:2] + [GenerationRequest(prompts[2], params, id="x")] + others[2:])
    assert mixed[2].id == "x" and mixed[2].token_ids == alone.token_ids
    again = GenerationEngine(loaded, max_batch_size=1, max_seq_len=64).generate([GenerationRequest(prompts[2], params)])
    assert again[0].token_ids == alone.token_ids
    other_seed = engine.generate([GenerationRequest(prompts[2], SamplingParams(20, temperature=0.9, seed=99))])
    assert other_seed[0].token_ids != alone.token_ids


def test_unseeded_sampling_follows_torch_manual_seed(tiny):
    loaded = tiny("llama", layers=1)
    engine = GenerationEngine(loaded, max_batch_size=2, max_seq_len=48)
    reqs = [GenerationRequest(p, SamplingParams(16, temperature=1.0)) for p in _prompts([5, 9])]
    torch.manual_seed(0)
    a = [r.token_ids for r in engine.generate(reqs)]
    torch.manual_seed(0)
    assert [r.token_ids for r in engine.generate(reqs)] == a


def test_generate_texts_applies_the_chat_template_or_not(tiny):
    loaded = tiny("llama", layers=1)
    engine = GenerationEngine(loaded, max_batch_size=2, max_seq_len=128)
    tok = loaded.tokenizer
    chat = engine.generate_texts(["hi"], SamplingParams(4), system_prompt="be brief")[0]
    expected = tok.apply_chat_template([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
                                       tokenize=False, add_generation_prompt=True)
    assert tok.decode(chat.prompt_ids) == expected
    raw = engine.generate_texts(["hi"], SamplingParams(4), chat=False)[0]
    assert tok.decode(raw.prompt_ids) == "hi"
    assert [r.id for r in engine.generate_texts(["a", "b", "c"], SamplingParams(2))] == ["0", "1", "2"]


def test_bad_requests_raise_clear_errors(tiny):
    loaded = tiny("llama", layers=1)
    engine = GenerationEngine(loaded, max_batch_size=1, max_seq_len=16)
    with pytest.raises(FastpruneError, match="leaves no room"):
        engine.generate([GenerationRequest(list(range(16)))])
    with pytest.raises(FastpruneError, match="prompt ids must be in"):
        engine.generate([GenerationRequest([5, 100000])])
    with pytest.raises(FastpruneError, match="empty prompt"):
        GenerationRequest([])
    with pytest.raises(FastpruneError, match="top_p"):
        SamplingParams(top_p=0.0)
    with pytest.raises(FastpruneError, match="fast decoder cannot run"):
        GenerationEngine(tiny("phi3", layers=1), runner="fast")
    no_tok = GenerationEngine(loaded.model, max_batch_size=1, max_seq_len=16)
    with pytest.raises(FastpruneError, match="no tokenizer"):
        no_tok.generate([GenerationRequest([1, 2], SamplingParams(4, stop_strings=("x",)))])


@pytest.mark.parametrize("backend", ["torch", "native"])
def test_nan_activations_stop_generation_with_a_clear_error(tiny, backend):
    from fastprune.ops import native

    if backend == "native" and not native.availability("cpu"):
        pytest.skip("fastprune._native_cpu is not built")
    loaded = tiny("llama", layers=2)
    with torch.no_grad():
        loaded.model.model.layers[1].mlp.down_proj.weight[0, 0] = float("nan")
    engine = GenerationEngine(loaded, max_batch_size=2, max_seq_len=32, backend=backend)
    reqs = [GenerationRequest([5, 6, 7], SamplingParams(max_new_tokens=4), id="q1")]
    with pytest.raises(FastpruneError, match=r"non-finite logits.*q1"):
        engine.generate(reqs)


def test_sampling_resolves_its_backend_once_per_engine(tiny, monkeypatch):
    from tests.ops.test_plan import forbid_resolution

    loaded = tiny("llama", layers=1)
    engine = GenerationEngine(loaded, max_batch_size=2, max_seq_len=48)
    reqs = [GenerationRequest(p, SamplingParams(12, temperature=0.8, seed=i)) for i, p in enumerate(_prompts([5, 9]))]
    first = [r.token_ids for r in engine.generate(reqs)]
    forbid_resolution(monkeypatch)
    assert [r.token_ids for r in engine.generate(reqs)] == first
