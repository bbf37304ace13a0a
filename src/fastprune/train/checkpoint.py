"""Resumable training state: model + optimizer through ``torch.distributed.checkpoint`` (sharded under FSDP2,
plain in one process), plus step, data position and each rank's RNG state.

Each checkpoint is written into a hidden temp directory and renamed to ``step_NNNNNNNN`` only when every
rank has finished, so a run killed mid-save resumes from the previous complete checkpoint.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict, set_state_dict

from fastprune.errors import FastpruneError
from fastprune.train.distributed import DistEnv
from fastprune.utils_io import atomic_write_json

_KEEP = 2  # complete checkpoints kept: the newest can still be mid-copy on a slow filesystem elsewhere
# Frozen weights (the whole base in LoRA, early layers in partial mode) are reloaded from the source model on
# resume: saving only what trains keeps an 8B LoRA checkpoint at adapter size instead of 30+ GB.
_OPTIONS = StateDictOptions(ignore_frozen_params=True)


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


@contextmanager
def _quiet_single_process():
    # DCP warns that it "assumes a single process" when no process group exists: that is the intent here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*assuming the intent is to (save|load) in a single process")
        yield


def complete_checkpoints(root: str | Path) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.glob("step_*") if (p / "meta.json").is_file()]
    return sorted(found, key=lambda p: int(p.name.split("_")[1]))


def _trained_only(model, model_sd: dict) -> dict:
    # ignore_frozen_params drops frozen parameters but not the extra state a 4-bit layer stores beside its
    # weight (absmax, quant_map, ...), which would then be "unexpected" on resume; keep what trains only.
    trained = {n for n, p in model.named_parameters(remove_duplicate=False) if p.requires_grad}  # tied names too
    return {k: v for k, v in model_sd.items() if k in trained}


def save(root: str | Path, step: int, model, optimizer, meta: dict, env: DistEnv) -> Path:
    """Write the checkpoint of ``step`` (collective: every rank calls it)."""
    root = Path(root)
    final = root / f"step_{step:08d}"
    tmp = root / f".step_{step:08d}.tmp"
    if env.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    env.barrier()
    model_sd, optim_sd = get_state_dict(model, optimizer, options=_OPTIONS)
    model_sd = _trained_only(model, model_sd)
    with _quiet_single_process():
        dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(tmp))
    torch.save(_rng_state(), tmp / f"rng_rank{env.rank}.pt")
    env.barrier()
    if env.is_main:
        atomic_write_json(tmp / "meta.json", {**meta, "step": step, "world": env.world})
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in complete_checkpoints(root)[:-_KEEP]:
            shutil.rmtree(old, ignore_errors=True)
    env.barrier()
    return final


def load(path: str | Path, model, optimizer, env: DistEnv, expect: dict) -> dict:
    """Restore ``path`` into ``model`` and ``optimizer`` (collective); returns its meta.

    ``expect`` holds the settings a resume must not change (data hash, mode, global batch, ...): a mismatch
    is an error rather than a silently different run.
    """
    path = Path(path)
    meta = json.loads((path / "meta.json").read_text())
    changed = {k: (meta.get(k), v) for k, v in expect.items() if meta.get(k) != v}
    if changed:
        what = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in changed.items())
        raise FastpruneError(f"cannot resume from {path}: the run's settings changed ({what}); rerun with the "
                             "original settings or delete the state directory to start over")
    model_sd, optim_sd = get_state_dict(model, optimizer, options=_OPTIONS)
    state = {"model": _trained_only(model, model_sd), "optim": optim_sd}
    with _quiet_single_process():
        dcp.load(state, checkpoint_id=str(path))
    # Not strict: the frozen weights are absent on purpose. Anything else missing or extra is still an error.
    result = set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"],
                            options=StateDictOptions(ignore_frozen_params=True, strict=False))
    frozen = {n for n, p in model.named_parameters(remove_duplicate=False) if not p.requires_grad}
    missing = [k for k in result.missing_keys if k not in frozen]
    if missing or result.unexpected_keys:
        raise FastpruneError(f"checkpoint {path} does not fit the model (missing {missing[:3]}, unexpected "
                             f"{list(result.unexpected_keys)[:3]}); delete the state directory to start over")
    rng = path / f"rng_rank{env.rank}.pt"
    if rng.is_file():
        _set_rng_state(torch.load(rng, weights_only=False))
    return meta
