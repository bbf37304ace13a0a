"""Writing a pruned model as a standard HF checkpoint directory, atomically, optionally verified in place.

Everything (weights, config, generation config, tokenizer, verification report) is written into a temp
directory beside the output and renamed only after verification passes: a killed or failed run leaves no
half checkpoint and never replaces a good one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastprune.errors import FastpruneError
from fastprune.utils_io import atomic_directory, atomic_write_json, chmod_as_created

REPORT_NAME = "fastprune_prune.json"


def _normalize_permissions(directory: Path) -> None:
    # Some writers (safetensors shards via temp files) leave 0600 files; a checkpoint is meant to be read by
    # other users and serving processes, so give every file what a plain open() would under the umask.
    for path in directory.rglob("*"):
        if path.is_file():
            chmod_as_created(path)


def check_output_dir(out: str | Path, overwrite: bool) -> Path:
    """Fail early (before any heavy work) if ``out`` exists and may not be replaced."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise FastpruneError(
            f"output {out} already exists; pass --overwrite to replace it or choose another --out"
        )
    if out.exists() and not out.is_dir():
        raise FastpruneError(f"output {out} exists and is not a directory; choose another --out")
    return out


def write_checkpoint(
    model,
    tokenizer,
    out: str | Path,
    *,
    overwrite: bool = False,
    max_shard_size: str | int = "5GB",
    verify: Callable[[Path], dict] | None = None,
    report: dict | None = None,
) -> dict:
    """``save_pretrained`` (safetensors, sharded above ``max_shard_size``) + tokenizer into ``out``.

    ``verify(tmp_dir)`` runs on the complete temp checkpoint before the rename; its dict (and ``report``)
    go to ``fastprune_prune.json`` beside the weights and are returned. Any exception leaves ``out``
    untouched.
    """
    out = check_output_dir(out, overwrite)
    try:
        with atomic_directory(out, overwrite=overwrite) as tmp:
            try:
                model.save_pretrained(tmp, max_shard_size=max_shard_size)
            except Exception as exc:
                # transformers validates the config on save (e.g. layer_types vs num_hidden_layers); its
                # exception types vary across versions, so any failure here is reported as one clear error.
                message = " ".join(str(exc).split())[:400]
                raise FastpruneError(f"cannot save the pruned model: {message}") from exc
            if tokenizer is not None:
                tokenizer.save_pretrained(tmp)
            _normalize_permissions(tmp)
            if not any(tmp.glob("*.safetensors")):
                raise FastpruneError(f"save_pretrained wrote no safetensors file into {tmp}")
            full_report = dict(report or {})
            if verify is not None:
                full_report["verification"] = verify(tmp)
            atomic_write_json(tmp / REPORT_NAME, full_report)
    except FileExistsError as exc:
        raise FastpruneError(
            f"output {out} appeared while writing; pass --overwrite or choose another --out"
        ) from exc
    return full_report
