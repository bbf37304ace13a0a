"""Where the shared offline data lives, and the short names that point into it.

The shared folder is found without assuming the current directory: ``FASTPRUNE_DATA_DIR`` wins, then
``../shared/data`` next to the working directory or any parent of it, then next to the source checkout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fastprune.errors import FastpruneError

ENV_VAR = "FASTPRUNE_DATA_DIR"


@dataclass(frozen=True)
class Shorthand:
    """A named file of the shared data folder and how one record becomes text."""

    relpath: str
    template: str | None = None  # None: a text file, one document per non-empty line
    help: str = ""


SHORTHANDS: dict[str, Shorthand] = {
    "wikitext2": Shorthand("wikitext2/valid.txt", help="WikiText-2 validation split, one line per document"),
    "wikitext2-valid": Shorthand("wikitext2/valid.txt", help="same as wikitext2"),
    "wikitext2-test": Shorthand("wikitext2/test.txt", help="WikiText-2 test split"),
    "gsm8k-train": Shorthand("gsm8k/train.jsonl", "{question}\n{answer}", "GSM8K train, question + answer"),
    "gsm8k-test": Shorthand("gsm8k/test.jsonl", "{question}\n{answer}", "GSM8K test, question + answer"),
    "piqa": Shorthand("piqa/valid.jsonl", "{goal} {sol1}", "PIQA validation goals with the first solution"),
    "code-alpaca": Shorthand(
        "code_alpaca/code_alpaca_2k.json",
        "{instruction}\n{input}\n{output}",
        "code_alpaca 2k prompts + outputs",
    ),
}


def _candidates() -> list[Path]:
    out = []
    cwd = Path.cwd().resolve()
    for base in (cwd, *cwd.parents):
        out.append(base / ".." / "shared" / "data")
        out.append(base / "shared" / "data")
    # src/fastprune/data/paths.py -> the repository root is three levels above this folder.
    repo = Path(__file__).resolve().parents[3]
    out.append(repo / ".." / "shared" / "data")
    return out


def shared_data_dir(required: bool = True) -> Path | None:
    """The shared data folder, or None (``required=False``) / a FastpruneError when it cannot be found."""
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise FastpruneError(f"{ENV_VAR}={env} is not a directory; point it at the shared data folder")
        return path.resolve()
    for cand in _candidates():
        if cand.is_dir():
            return cand.resolve()
    if required:
        raise FastpruneError(
            f"cannot find the shared data folder (looked for ../shared/data from {Path.cwd()} and the "
            f"source checkout); set {ENV_VAR} to its path"
        )
    return None


def resolve_shorthand(name: str) -> tuple[Path, str | None] | None:
    """``(path, template)`` for a shorthand name, None when ``name`` is not one."""
    entry = SHORTHANDS.get(name.lower())
    if entry is None:
        return None
    path = shared_data_dir() / entry.relpath
    if not path.is_file():
        raise FastpruneError(f"data shorthand {name!r} points at {path}, which does not exist")
    return path, entry.template
