import json

import pytest
import torch

from fastprune.calibrate.runner import CalibrationConfig, calibrate
from fastprune.data import SequenceStream, open_source
from fastprune.errors import FastpruneError

from .oracle import naive_importance

KEYS = (
    "cosine",
    "angular",
    "bi",
    "cosine_last_token",
    "angular_last_token",
    "bi_last_token",
    "norms",
    "update_ratio",
)


def _config(**kw):
    base = dict(seq_len=24, batch_size=3, save_every=0, progress=False, plots=False)
    return CalibrationConfig(**{**base, **kw})


def _close(a, b, tol):
    for key in KEYS:
        torch.testing.assert_close(
            torch.tensor(a[key], dtype=torch.float64),
            torch.as_tensor(b[key], dtype=torch.float64),
            atol=tol,
            rtol=tol,
            msg=key,
        )


@pytest.mark.parametrize(("family", "pack"), [("llama", False), ("gemma3", True), ("qwen2", False)])
def test_statistics_equal_a_naive_computation(tiny, corpus_file, tmp_path, family, pack):
    loaded = tiny(family, layers=3)
    source = open_source(str(corpus_file), template="{question}\n{answer}")
    got = calibrate(loaded, source, _config(pack=pack, plots=family == "llama"), tmp_path / "out")
    seqs = list(SequenceStream(source, loaded.tokenizer, 24, pack=pack))
    want = naive_importance(loaded.model, seqs)
    _close(got, want, 2e-5)
    assert got["tokens"] == want["tokens"] == sum(map(len, seqs))
    assert got["sequences"] == len(seqs) and got["num_layers"] == 3
    assert len(got["cosine"]) == 4 and len(got["bi"]) == 3 and len(got["update_ratio"]) == 3
    on_disk = json.loads((tmp_path / "out" / "importance.json").read_text())
    assert on_disk["bi"] == got["bi"] and on_disk["fingerprint"]["num_layers"] == 3
    if family == "llama":
        assert (tmp_path / "out" / "heatmap.png").stat().st_size > 1000
        assert (tmp_path / "out" / "bi.png").stat().st_size > 1000


def test_padding_never_changes_the_numbers(tiny, corpus_file, tmp_path):
    loaded = tiny("llama", layers=3)
    source = open_source(str(corpus_file), template="{question}\n{answer}")
    alone = calibrate(loaded, source, _config(pack=False, batch_size=1), tmp_path / "a")
    padded = calibrate(loaded, source, _config(pack=False, batch_size=5), tmp_path / "b")
    _close(alone, padded, 1e-5)
    assert alone["tokens"] == padded["tokens"]


class _Kill(Exception):
    pass


def _kill_after(n):
    def on_batch(batch):
        if batch.index + 1 == n:
            raise _Kill

    return on_batch


@pytest.mark.parametrize("pack", [True, False])
def test_killed_and_resumed_equals_uninterrupted(tiny, corpus_file, tmp_path, pack):
    loaded = tiny("llama", layers=2)
    source = open_source(str(corpus_file), template="{question}\n{answer}")
    cfg = _config(pack=pack, batch_size=2, seq_len=16, save_every=2)
    whole = calibrate(loaded, source, cfg, tmp_path / "whole")
    with pytest.raises(_Kill):
        calibrate(loaded, source, cfg, tmp_path / "part", on_batch=_kill_after(3))
    assert not (tmp_path / "part" / "importance.json").exists()
    state = json.loads((tmp_path / "part" / "state" / "state.json").read_text())
    assert state["batches_done"] == 2 and not state["finished"]
    seen = []
    resumed = calibrate(loaded, source, cfg, tmp_path / "part", on_batch=lambda b: seen.append(b.index))
    assert seen[0] == 2  # resumed after the checkpoint, not from the start
    _close(whole, resumed, 1e-12)
    assert (whole["tokens"], whole["sequences"], whole["batches"]) == (
        resumed["tokens"],
        resumed["sequences"],
        resumed["batches"],
    )


def test_finished_dir_is_reported_done_and_overwrite_recomputes(tiny, corpus_file, tmp_path, capsys):
    loaded = tiny("llama", layers=2)
    source = open_source(str(corpus_file), field="question")
    first = calibrate(loaded, source, _config(), tmp_path / "o")
    calls = []
    again = calibrate(loaded, source, _config(), tmp_path / "o", on_batch=calls.append)
    assert not calls and again["bi"] == first["bi"]
    assert "already done" in capsys.readouterr().err
    redo = calibrate(loaded, source, _config(overwrite=True), tmp_path / "o", on_batch=calls.append)
    assert calls and redo["bi"] == pytest.approx(first["bi"], abs=1e-12)


def test_another_models_dir_is_refused_and_left_alone(tiny, corpus_file, tmp_path):
    source = open_source(str(corpus_file), field="question")
    cfg = _config(save_every=1)
    with pytest.raises(_Kill):
        calibrate(tiny("llama", layers=2, seed=0), source, cfg, tmp_path / "o", on_batch=_kill_after(2))
    before = (tmp_path / "o" / "state" / "sums.safetensors").read_bytes()
    with pytest.raises(FastpruneError, match="another model.*weights_sha256"):
        calibrate(tiny("llama", layers=2, seed=1), source, cfg, tmp_path / "o")
    with pytest.raises(FastpruneError, match="other settings.*seq_len"):
        calibrate(tiny("llama", layers=2, seed=0), source, _config(save_every=1, seq_len=32), tmp_path / "o")
    assert (tmp_path / "o" / "state" / "sums.safetensors").read_bytes() == before
    assert not (tmp_path / "o" / "importance.json").exists()


def _poison(loaded, layer, batch_index, value=float("nan")):
    """A hook that corrupts the output of ``layer`` on the ``batch_index``-th forward."""
    count = {"n": 0}

    def hook(_module, _args, output):
        count["n"] += 1
        if count["n"] == batch_index + 1:
            out = output[0] if isinstance(output, tuple) else output
            out = out.clone()
            out[0, 1, 3] = value
            return out

    return loaded.adapter.layers[layer].register_forward_hook(hook)


def test_nan_activations_name_layer_and_batch(tiny, corpus_file, tmp_path):
    loaded = tiny("llama", layers=3)
    source = open_source(str(corpus_file), field="question")
    handle = _poison(loaded, layer=1, batch_index=2)
    try:
        with pytest.raises(FastpruneError, match="output of layer 1 in batch 2.*--on-nan skip"):
            calibrate(loaded, source, _config(), tmp_path / "o")
    finally:
        handle.remove()
    assert not (tmp_path / "o").exists()


def test_on_nan_skip_leaves_the_batch_out(tiny, corpus_file, tmp_path):
    loaded = tiny("llama", layers=3)
    source = open_source(str(corpus_file), field="question")
    clean = calibrate(loaded, source, _config(), tmp_path / "clean")
    handle = _poison(loaded, layer=0, batch_index=1, value=float("inf"))
    try:
        with pytest.warns(RuntimeWarning, match="output of layer 0 in batch 1"):
            got = calibrate(loaded, source, _config(on_nan="skip"), tmp_path / "o")
    finally:
        handle.remove()
    assert got["skipped_batches"] == 1 and got["tokens"] == clean["tokens"] - got["skipped_tokens"]
    assert all(torch.isfinite(torch.tensor(got[k])).all() for k in KEYS)


def test_bad_inputs(tiny, corpus_file, tmp_path):
    loaded = tiny("llama", layers=2)
    source = open_source(str(corpus_file), field="question")
    with pytest.raises(FastpruneError, match="longer than the model's context"):
        calibrate(loaded, source, _config(seq_len=4096), tmp_path / "o")
    with pytest.raises(FastpruneError, match="--block 3"):
        calibrate(loaded, source, _config(loss_ablation=True, block=3), tmp_path / "o")
    with pytest.raises(FastpruneError, match="--batch-size"):
        calibrate(loaded, source, _config(batch_size=0), tmp_path / "o")
    # Records exist (so the source validates) but every one is empty text: no token ever reaches the model.
    empty = tmp_path / "e.jsonl"
    empty.write_text('{"text": ""}\n{"text": ""}\n')
    with pytest.raises(FastpruneError, match="produced no tokens"):
        calibrate(loaded, open_source(str(empty)), _config(pack=False), tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_same_seed_same_result(tiny, corpus_file, tmp_path):
    loaded = tiny("llama", layers=2)
    runs = [
        calibrate(
            loaded,
            open_source(str(corpus_file), field="question", shuffle=True, seed=s),
            _config(max_tokens=100),
            tmp_path / f"o{i}",
        )
        for i, s in enumerate((5, 5, 6))
    ]
    assert runs[0]["bi"] == runs[1]["bi"] and runs[0]["bi"] != runs[2]["bi"]
    assert runs[0]["tokens"] == 100 and runs[0]["settings"]["seed"] == 5


# importance.json fields that describe the run rather than measure a layer
RECORD_FIELDS = {"model", "fingerprint", "settings", "num_layers", "tokens", "sequences", "batches",
                 "skipped_batches", "skipped_tokens", "truncated_examples", "versions"}


@pytest.mark.parametrize("options", [{}, {"taylor": True}, {"loss_ablation": True, "block": 2}],
                         ids=["default", "taylor", "loss_ablation"])
def test_what_calibrate_writes_is_the_schema(tiny, corpus_file, tmp_path, options):
    from fastprune.importance.reader import load_importance
    from fastprune.importance.schema import enabled_metrics, metric_names

    loaded = tiny("llama", layers=3)
    source = open_source(str(corpus_file), template="{question}\n{answer}")
    got = calibrate(loaded, source, _config(max_tokens=60, **options), tmp_path / "o")
    metrics = set(got) - RECORD_FIELDS
    assert metrics <= set(metric_names())  # nothing outside the schema
    assert metrics == {m.name for m in enabled_metrics(options)}  # everything the options turn on
    imp = load_importance(tmp_path / "o")
    for name in metrics:  # and each in the shape the schema gives it
        imp.metric(name)
