"""The ``fastprune`` command line: one sub-command per stage, plus ``env`` and ``info``.

Each stage registers its own parser from ``fastprune.<stage>.cli`` (module-level imports there stay
light, so ``fastprune --help`` is fast). A ``FastpruneError`` becomes one ``error:`` line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from fastprune import __version__
from fastprune import log as log_setup
from fastprune import threads as threads_setting
from fastprune.errors import FastpruneError

logger = logging.getLogger(__name__)

# stage name -> (module providing register(subparsers), one-line help)
STAGES = {
    "calibrate": ("fastprune.calibrate.cli", "stream a corpus through a model; per-layer importance statistics"),
    "prune": ("fastprune.prune.cli", "choose layers and write a standard, verified HF checkpoint"),
    "generate": ("fastprune.generate.cli", "fast batched generation: self-response datasets"),
    "train": ("fastprune.train.cli", "recovery finetuning on self-responses (LoRA, full, partial)"),
    "eval": ("fastprune.evaluate.cli", "generative, algorithmic and classification evaluation"),
    "bench": ("fastprune.bench.cli", "prefill/decode latency and throughput, base vs pruned"),
    "export": ("fastprune.export.cli", "a checkpoint as a verified GGUF file for llama.cpp"),
    "run": ("fastprune.pipeline.cli", "the whole study from one YAML config into a run dir + report"),
}
TOOLS = {
    "env": ("fastprune.tools.env", "versions, devices and which native kernels were built"),
    "info": ("fastprune.tools.info", "architecture, layers, parameters and bytes of a model"),
}
VERBOSITY = {
    ("-v", "--verbose"): (log_setup.VERBOSE, "debug messages too; also accepted after the command"),
    ("-q", "--quiet"): (log_setup.QUIET, "warnings and errors only: no progress messages or bars; also accepted "
                                         "after the command"),
}
# Every stage's progress-bar switch has one spelling (the options field ``progress``); -q turns it off.
PROGRESS_OFF = {"progress": False}


def _add_verbosity(parser: argparse.ArgumentParser, default, show_help: bool) -> None:
    group = parser.add_mutually_exclusive_group()
    for flags, (value, help_text) in VERBOSITY.items():
        # A stage's own option of the same spelling (prune's --quiet: no progress bars) keeps its meaning.
        free = [f for f in flags if f not in parser._option_string_actions]
        if free:
            group.add_argument(*free, dest="verbosity", action="store_const", const=value, default=default,
                               help=help_text if show_help else argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastprune",
        description="Depth (layer) pruning of LLMs, and an honest measure of what it costs.",
    )
    parser.add_argument("--version", action="version", version=f"fastprune {__version__}")
    parser.add_argument("--threads", default=None, metavar="N",
                        help="CPU threads for torch and the native kernels (default auto: the usable cores "
                             "minus the other tasks runnable at start-up, at least 1; OMP_NUM_THREADS if set). "
                             "Also accepted after the command, and as 'threads' in a run config")
    _add_verbosity(parser, None, show_help=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="stages and tools")
    for name, (module_name, help_text) in {**STAGES, **TOOLS}.items():
        importlib.import_module(module_name).register(sub, name, help_text)
    # The same option after the command (`fastprune calibrate ... --threads 2`); SUPPRESS keeps a value
    # given before the command when it is not repeated after it.
    for stage in sub.choices.values():
        stage.add_argument("--threads", default=argparse.SUPPRESS, metavar="N", help=argparse.SUPPRESS)
        _add_verbosity(stage, argparse.SUPPRESS, show_help=False)
    return parser


def main(argv: list[str] | None = None, raise_errors: bool = False) -> int:
    """Run one command; ``raise_errors`` lets a caller (``fastprune run``) report a FastpruneError itself."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a usage error (argparse printed it): exit 2 as a return value, like any error
        if exc.code in (0, None):
            raise
        return int(exc.code) if isinstance(exc.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    verbosity = getattr(args, "verbosity", None)
    # A command that `fastprune run` runs keeps the run's level unless it names one itself.
    if verbosity is not None or not raise_errors:
        log_setup.configure(log_setup.DEFAULT if verbosity is None else verbosity)
    if log_setup.configured() == log_setup.QUIET:  # -q here, or on the `fastprune run` that runs this
        for name, off in PROGRESS_OFF.items():
            if hasattr(args, name):
                setattr(args, name, off)
    try:
        # Before any stage imports torch: the OpenMP runtime reads its wait policy once, at start-up.
        args.threads = threads_setting.parse_threads(args.threads)
        threads = threads_setting.apply_threads(args.threads)
        logger.debug(f"fastprune {__version__} {args.command}, CPU threads: {threads}")
        return int(args.func(args) or 0)
    except FastpruneError as exc:
        if raise_errors:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
