"""The evaluate stage's options: one dataclass from which ``fastprune eval``'s flags and the pipeline's
``evaluate:`` YAML section are both derived.

``GeneralOptions`` holds what every task shares (models, tasks, limits, batch size, ...); each registered
task adds its own options groups (``Task.option_groups``) as nested fields, so ``PerplexityOptions.max_length``
is ``--ppl-max-length`` on the command line and ``evaluate: {ppl: {max_length: 512}}`` in YAML. Because a
task registered later (a plugin, a test) brings its groups with it, the full class is derived from the
registry: ``options_class()`` (also reachable as ``EvaluateOptions``, the class of the tasks registered
when it is read). Fields the pipeline sets itself (models, out, and the run-wide model-loading and engine groups) are
command-line only (``yaml=False``).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

from fastprune.engines.options import EngineOptions
from fastprune.errors import FastpruneError
from fastprune.models.options import ModelOptions
from fastprune.options import option

DEFAULT_TASKS = ["arith", "parens", "gsm8k", "piqa", "ppl", "humaneval"]


@dataclass
class GeneralOptions:
    models: list[str] = option([], positional=True, nargs="+", metavar="MODEL", yaml=False,
                               help="model specs (see 'fastprune info --help'), the first the base the "
                                    "others are compared with (no default: at least one)")
    tasks: list[str] = option(DEFAULT_TASKS, help="comma-separated tasks")
    out: Path | None = option(None, yaml=False,
                              help="output folder (scores.json, samples/, table.txt); required except for compare")
    limit: int | None = option(None, help="first N items of each task (quick runs)")
    task_limits: dict[str, int] = option({}, metavar="TASK=N,...",
                                         help="per-task item counts overriding --limit, e.g. piqa=600,ppl=24")
    batch_size: int = option(8, help="generation and scoring batch size")
    max_new_tokens: int | None = option(None, help="override every task's generation budget")
    data_dir: Path | None = option(None, help="shared data folder (default: found)")
    allow_unsandboxed_exec: bool = option(
        False, group="task options",
        help="where no OS sandbox (user/PID/network/mount namespaces) works, run model-written code behind "
             "the Python-level fence only; unsafe, recorded as sandbox 'none'")
    lm_eval_include: list[Path] = option([], append=True, metavar="DIR", group="task options",
                                         help="folder of local lm-eval task YAMLs for lm_eval:NAME tasks (repeatable)")
    progress: bool = option(True, flag="--no-progress", yaml=False, help="no progress bars")
    load: ModelOptions = option(default_factory=ModelOptions, flatten=True, yaml=False,
                                help="how each model loads (run-wide keys in fastprune run); the seed also "
                                     "seeds the generated probes and sampling")
    engine: EngineOptions = option(default_factory=EngineOptions, flatten=True, yaml=False,
                                   help="which engine generates (run-wide keys in fastprune run)")

    @property
    def seed(self) -> int:
        return self.load.seed

    @property
    def dtype(self) -> str:
        return self.load.dtype

    @property
    def device(self) -> str:
        return self.load.device

    def __post_init__(self):
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise FastpruneError(f"--max-new-tokens must be >= 1, got {self.max_new_tokens}")


@functools.cache
def general_field_names() -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(GeneralOptions))


@functools.cache
def _build(groups: tuple[tuple[str, type], ...]) -> type:
    fields = [(name, cls, option(default_factory=cls, help=f"{name} task options")) for name, cls in groups]
    cls = dataclasses.make_dataclass("EvaluateOptions", fields, bases=(GeneralOptions,))
    cls.__module__ = __name__
    cls.__doc__ = ("The evaluate stage's options: the general fields plus one group per task "
                   f"({', '.join(name for name, _ in groups)}).")
    return cls


def options_class() -> type:
    """``EvaluateOptions`` for the tasks registered now (the same class while the registry is the same)."""
    from fastprune.evaluate.registry import option_groups

    return _build(tuple(option_groups().items()))


def __getattr__(name: str):
    if name == "EvaluateOptions":
        return options_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
