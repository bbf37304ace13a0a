"""``fastprune run CONFIG.yaml``: the whole study into one run dir, with a report."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fastprune.pipeline.config import load_config
    from fastprune.pipeline.runner import run_study

    config = load_config(args.config, args.set)
    if getattr(args, "threads", None) is None and config.threads is not None:
        from fastprune.threads import apply_threads, parse_threads

        apply_threads(parse_threads(config.threads, "config key 'threads'"))
    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    run_study(config, out, from_stage=args.from_stage)
    print(f"report: {out / 'report.md'}")
    return 0


def register(sub, name: str, help_text: str) -> None:
    p = sub.add_parser(
        name, help=help_text, description=help_text,
        epilog="example: fastprune run configs/demo.yaml --out runs/demo --set prune.ratios=[0.2]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", help="YAML config (see configs/demo.yaml)")
    p.add_argument("--out", help="run directory (default runs/<config name>)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set evaluate.limit=20 (repeatable)")
    p.add_argument("--from", dest="from_stage", metavar="STAGE",
                   help="redo this stage and every later one (calibrate, prune, generate, train, evaluate, bench)")
    p.set_defaults(func=run)
