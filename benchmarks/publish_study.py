"""Copy a finished ``fastprune run`` dir's results (no weights) into the repository, for committing.

    python benchmarks/publish_study.py runs/study-smollm2 docs/results/study-smollm2

Copies what a reader needs to check every number: report.md with its charts, report.json, the manifest
(each step's options, command, timing and commit), the importance statistics, each pruned model's
config, the self-responses, the training logs and every evaluation's scores, run record and per-sample
JSONL (item ids kept, so ``fastprune eval compare`` works on the copies). Checkpoints, optimizer and
calibration state are left out. The copy is made in a temp dir beside DEST and renamed over it, so DEST
is never half-written; a run without report.json (unfinished, or rendered before report.json existed) is
refused.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

KEEP_SUFFIXES = (".md", ".json", ".jsonl", ".png")
SKIP_DIRS = {"state", "checkpoints", "adapter", "merged"}
SKIP_NAMES = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "added_tokens.json"}
MAX_FILE_BYTES = 8 << 20


def wanted(path: Path, run_dir: Path) -> bool:
    rel = path.relative_to(run_dir)
    if any(part in SKIP_DIRS for part in rel.parts[:-1]) or rel.name in SKIP_NAMES:
        return False
    if rel.parent != Path(".") and rel.parts[0] == "prune":  # a pruned checkpoint: its description only
        return rel.name in ("config.json", "fastprune_prune.json")
    return path.suffix in KEEP_SUFFIXES and path.stat().st_size <= MAX_FILE_BYTES


def publish(run_dir: Path, dest: Path) -> list[Path]:
    run_dir, dest = Path(run_dir), Path(dest)
    if not (run_dir / "report.json").is_file():
        raise SystemExit(f"{run_dir} has no report.json: finish the run (re-run the same fastprune run command, "
                         "which renders the report) before publishing it")
    files = sorted(p for p in run_dir.rglob("*") if p.is_file() and wanted(p, run_dir))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for path in files:
            target = tmp / path.relative_to(run_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [dest / p.relative_to(run_dir) for p in files]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("dest", type=Path)
    args = ap.parse_args(argv)
    copied = publish(args.run_dir, args.dest)
    size = sum(p.stat().st_size for p in copied)
    print(f"{len(copied)} files, {size / 1e6:.1f} MB -> {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
