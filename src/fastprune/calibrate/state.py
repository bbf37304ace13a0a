"""The resumable state of a calibration directory: accumulators + data position, written atomically.

``DIR/state/`` holds ``sums.safetensors`` and ``state.json``; both are written into a temp directory that
replaces the old one with a rename, so a run killed at any moment leaves either the previous checkpoint or
the new one, never a mix.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from fastprune.errors import FastpruneError
from fastprune.models.fingerprint import fingerprint_mismatches
from fastprune.utils_io import atomic_directory, atomic_write_json, chmod_as_created

STATE_VERSION = 1


def state_dir(out: Path) -> Path:
    return Path(out) / "state"


def save_state(out: Path, sums: dict[str, torch.Tensor], meta: dict) -> None:
    from safetensors.torch import save_file

    with atomic_directory(state_dir(out), overwrite=True) as tmp:
        save_file({k: v.contiguous() for k, v in sums.items()}, str(tmp / "sums.safetensors"))
        chmod_as_created(tmp / "sums.safetensors")
        atomic_write_json(tmp / "state.json", {"version": STATE_VERSION, **meta})


def load_state(out: Path) -> tuple[dict[str, torch.Tensor], dict] | None:
    """``(sums, meta)`` of the checkpoint in ``out``, or None when there is none."""
    folder = state_dir(out)
    if not (folder / "state.json").is_file():
        return None
    from safetensors.torch import load_file

    try:
        meta = json.loads((folder / "state.json").read_text())
        sums = load_file(str(folder / "sums.safetensors"))
    except (OSError, ValueError) as exc:
        raise FastpruneError(
            f"calibration state in {folder} is unreadable ({exc}); rerun with --overwrite"
        ) from exc
    if meta.get("version") != STATE_VERSION:
        raise FastpruneError(
            f"calibration state in {folder} has version {meta.get('version')}, this fastprune "
            f"writes {STATE_VERSION}; rerun with --overwrite"
        )
    return sums, meta


def check_same_run(out: Path, recorded: dict, fingerprint: dict, settings: dict, what: str) -> None:
    """Refuse to mix results: ``recorded`` (state or importance file) must match the model and settings."""
    problems = fingerprint_mismatches(recorded.get("fingerprint") or {}, fingerprint)
    if problems:
        raise FastpruneError(
            f"{out} holds {what} of another model (model {recorded.get('model')!r}: {'; '.join(problems)}); "
            "use another --out, or --overwrite to discard it"
        )
    old = recorded.get("settings") or {}
    differ = [k for k in settings if k in old and old[k] != settings[k]]
    if differ:
        detail = ", ".join(f"{k}: {old[k]!r} -> {settings[k]!r}" for k in differ)
        raise FastpruneError(
            f"{out} holds {what} computed with other settings ({detail}); rerun the same "
            "command to resume, or use --overwrite / another --out"
        )
