import pytest
import torch

from fastprune.errors import FastpruneError
from fastprune.evaluate.lm import EvalModel


@pytest.fixture(scope="module")
def lm():
    from fastprune.models import load_model

    return EvalModel(load_model("tiny:qwen2:3", dtype="float32", seed=1), batch_size=3)


def naive_loglik(model, ctx, cont):
    """One pair, no padding, no batching: the oracle for the batched scorer."""
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        logp = model(ids).logits[0].float().log_softmax(-1)
    positions = range(len(ctx) - 1, len(ctx) + len(cont) - 1)
    return sum(logp[p, t].item() for p, t in zip(positions, cont, strict=True)), all(
        logp[p].argmax().item() == t for p, t in zip(positions, cont, strict=True)
    )


def test_loglikelihood_batched_matches_one_pair_at_a_time(lm):
    g = torch.Generator().manual_seed(0)
    pairs = []
    for n_ctx, n_cont in [(5, 1), (17, 3), (2, 7), (30, 2), (9, 9), (1, 1), (12, 4)]:
        ctx = torch.randint(0, 256, (n_ctx,), generator=g).tolist()
        cont = torch.randint(0, 256, (n_cont,), generator=g).tolist()
        pairs.append((ctx, cont))
    got = lm.loglikelihood(pairs)
    assert len(got) == len(pairs)
    for (ctx, cont), (logp, greedy) in zip(pairs, got, strict=True):
        want, want_greedy = naive_loglik(lm.model, ctx, cont)
        assert logp == pytest.approx(want, rel=1e-4, abs=1e-4)
        assert greedy == want_greedy
        assert logp < 0


def test_loglikelihood_greedy_flag_true_for_argmax_continuation(lm):
    ctx = lm.encode("Question: what?\nAnswer:")
    with torch.no_grad():
        nxt = lm.model(torch.tensor([ctx])).logits[0, -1].argmax().item()
    ((_, greedy),) = lm.loglikelihood([(ctx, [nxt])])
    assert greedy


def test_loglikelihood_empty_context_and_truncation(lm):
    ((logp, _),) = lm.loglikelihood([([], [65, 66])])
    assert logp < 0
    long_ctx = list(range(100, 140)) * 20  # 800 tokens > the tiny model's 512 positions
    ((logp_long, _),) = lm.loglikelihood([(long_ctx, [65])])
    want, _ = naive_loglik(lm.model, long_ctx[-lm.max_seq_len :], [65])
    assert logp_long == pytest.approx(want, rel=1e-4, abs=1e-4)
    with pytest.raises(ValueError):
        lm.loglikelihood([([1, 2], [])])


def test_next_token_logprobs_match_unpadded_forward(lm):
    prompts = [lm.encode(t) for t in ["Q: 1+1? A:", "a much longer prompt than the others, to pad", "x"]]
    got = lm.next_token_logprobs(prompts)
    assert got.shape == (3, lm.model.config.vocab_size)
    for row, p in zip(got, prompts, strict=True):
        with torch.no_grad():
            want = lm.model(torch.tensor([p])).logits[0, -1].float().log_softmax(-1)
        torch.testing.assert_close(row, want, rtol=1e-4, atol=1e-4)


def test_prompt_ids_chat_uses_template(lm):
    ids = lm.prompt_ids("hello", chat=True)
    text = lm.tokenizer.decode(ids)
    assert "<|im_start|>user\nhello<|im_end|>" in text and text.endswith("<|im_start|>assistant\n")
    assert lm.decode(lm.prompt_ids("hello")) == "hello"


def test_generate_returns_one_result_per_prompt_in_order(lm):
    prompts = [lm.encode("abc"), lm.encode("a longer prompt"), lm.encode("z")]
    gens = lm.generate(prompts, max_new_tokens=5)
    assert len(gens) == 3
    for g in gens:
        assert g.num_tokens <= 5 and g.finish_reason in ("eos", "stop_string", "length")
    again = lm.generate(prompts[::-1], max_new_tokens=5)
    assert [g.token_ids for g in again] == [g.token_ids for g in gens][::-1]  # greedy: order-independent


def test_generate_truncates_overlong_prompts(lm):
    long = list(range(60, 120)) * 10  # 600 tokens > 512
    (g,) = lm.generate([long], max_new_tokens=4)
    assert g.prompt_truncated and g.num_tokens <= 4


def test_bad_construction():
    from fastprune.models import load_model

    loaded = load_model("tiny:llama:2")
    with pytest.raises(FastpruneError, match="batch-size"):
        EvalModel(loaded, batch_size=0)
    loaded.tokenizer = None
    with pytest.raises(FastpruneError, match="tokenizer"):
        EvalModel(loaded)
