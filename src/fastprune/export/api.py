"""``export_gguf``: a checkpoint as a verified GGUF file, written to a temp path and renamed into place.

A failed verification (or any error) leaves neither the GGUF nor its report behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

from fastprune.errors import FastpruneError

logger = logging.getLogger(__name__)


def report_path(out: str | Path) -> Path:
    """The JSON report written next to the GGUF: ``model.gguf`` -> ``model.gguf.json``."""
    out = Path(out)
    return out.with_name(out.name + ".json")


def check_output_file(out: str | Path, overwrite: bool) -> Path:
    out = Path(out)
    if out.suffix.lower() != ".gguf":
        raise FastpruneError(f"--out {out}: a GGUF file name must end in .gguf")
    if out.is_dir():
        raise FastpruneError(f"--out {out} is a directory; give a file name ending in .gguf")
    if out.exists() and not overwrite:
        raise FastpruneError(f"--out {out} already exists (use --overwrite to replace it)")
    return out


def export_gguf(model: str, out: str | Path, qtype: str = "f32", overwrite: bool = False, verify: bool = True,
                trust_remote_code: bool = False) -> dict:
    """Export the model spec ``model`` to ``out``; return the report (also written as ``out + .json``)."""
    from fastprune.export.gguf_tokenizer import tokenizer_metadata, tokenizer_notes
    from fastprune.export.gguf_writer import TYPES, layout_for, write_gguf
    from fastprune.export.verify import llama_cpp_notes, verify_gguf
    from fastprune.models import load_model
    from fastprune.provenance import run_provenance
    from fastprune.utils_io import atomic_write_json, sha256_file

    if qtype not in TYPES:
        raise FastpruneError(f"--type {qtype!r}: choose one of {', '.join(TYPES)}")
    out = check_output_file(out, overwrite)
    loaded = load_model(model, dtype="float32", device="cpu", trust_remote_code=trust_remote_code)
    config = loaded.model.config
    layout_for(config)  # an unsupported family fails before anything is written
    notes = llama_cpp_notes(config)
    if loaded.tokenizer is not None:
        notes += tokenizer_notes(tokenizer_metadata(loaded.tokenizer, config.vocab_size))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.gguf")
    started = time.perf_counter()
    try:
        types = write_gguf(loaded.model, loaded.tokenizer, tmp, qtype, name=Path(loaded.name).name)
        verification = verify_gguf(tmp, loaded.model, loaded.tokenizer, qtype) if verify else None
        report = {
            "source": loaded.name,
            "out": str(out),
            "format": "gguf",
            "type": qtype,
            "architecture": layout_for(config).arch.lower(),
            "num_layers": config.num_hidden_layers,
            "layer_types": getattr(config, "layer_types", None),
            "tensors": len(types),
            "tensor_types": {t: sum(1 for v in types.values() if v == t) for t in sorted(set(types.values()))},
            "bytes": tmp.stat().st_size,
            "sha256": sha256_file(tmp),
            "verification": verification,
            "notes": notes,
            "seconds": round(time.perf_counter() - started, 2),
            "provenance": run_provenance(),
        }
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    try:
        atomic_write_json(report_path(out), report)
    except BaseException:
        out.unlink()  # a GGUF without its report would look verified when it may not be
        raise
    for note in notes:
        logger.warning(f"note: {note}")
    return report
