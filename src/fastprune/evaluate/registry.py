"""Task names -> task classes: one table. ``--tasks`` is a comma list of these names.

Every task class carries its own name, metadata (``TaskInfo``) and options groups, so registering the
class is all a new task needs: ``register_task(MyTask)`` makes ``--tasks my_task`` work, adds the flags of
its options groups to ``fastprune eval`` and their section to the ``evaluate:`` YAML, and records its kind
and primary metric with its scores for the report.

Parameterised names carry a value after a colon: ``mc:PATH`` (any multiple-choice JSONL) and
``lm_eval:NAME`` (an lm-evaluation-harness task, local YAML folders from ``--lm-eval-include``). Every task
is built (and its data checked) before the first model loads, so a typo or a bad file fails in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastprune.errors import FastpruneError
from fastprune.evaluate.arith import ArithTask
from fastprune.evaluate.arith_1dc import Arith1dcTask
from fastprune.evaluate.gsm8k import GSM8KFewshotTask, GSM8KTask
from fastprune.evaluate.humaneval import HumanEvalTask
from fastprune.evaluate.lm_eval_bridge import LmEvalTask
from fastprune.evaluate.math500 import Math500Task
from fastprune.evaluate.mbpp import MBPPTask
from fastprune.evaluate.multiple_choice import MultipleChoiceTask, PIQATask
from fastprune.evaluate.parens import ParensTask
from fastprune.evaluate.perplexity import PerplexityTask
from fastprune.evaluate.task import Task, TaskInfo
from fastprune.evaluate.xsum import XSumTask

# the order of ``known tasks`` and of the task options in ``fastprune eval --help``
BUILTIN: tuple[type[Task], ...] = (
    ArithTask, Arith1dcTask, ParensTask, GSM8KTask, GSM8KFewshotTask, PIQATask, PerplexityTask, HumanEvalTask,
    Math500Task, MBPPTask, XSumTask, MultipleChoiceTask, LmEvalTask,
)
TASKS: dict[str, type[Task]] = {}  # plain names
PARAMETERISED: dict[str, type[Task]] = {}  # PREFIX -> class, named PREFIX:VALUE


def register_task(cls: type[Task]) -> type[Task]:
    """Add a task class (usable as a decorator); its name must be new and its options groups consistent."""
    from fastprune.evaluate.options import GeneralOptions, general_field_names

    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name or ":" in name or "," in name:
        raise ValueError(f"task class {cls.__name__} needs a name without ':' or ','")
    if not isinstance(getattr(cls, "info", None), TaskInfo):
        raise ValueError(f"task {name!r} declares no TaskInfo (kind, primary metric, direction)")
    if name in TASKS or name in PARAMETERISED:
        raise ValueError(f"task {name!r} is registered already")
    groups = option_groups()
    for group, options_cls in cls.option_groups.items():
        if group in general_field_names():
            raise ValueError(f"task {name!r}: options group {group!r} clashes with {GeneralOptions.__name__}.{group}")
        if groups.get(group, options_cls) is not options_cls:
            raise ValueError(f"task {name!r}: options group {group!r} is {groups[group].__name__} for another task")
    (PARAMETERISED if cls.parameterised else TASKS)[name] = cls
    return cls


def unregister_task(name: str) -> None:
    TASKS.pop(name, None) or PARAMETERISED.pop(name, None)


def option_groups() -> dict[str, type]:
    """Every registered task's options groups, in registration order (a shared group appears once)."""
    groups: dict[str, type] = {}
    for cls in (*TASKS.values(), *PARAMETERISED.values()):
        for group, options_cls in cls.option_groups.items():
            groups.setdefault(group, options_cls)
    return groups


def task_class(name: str) -> type[Task] | None:
    """The class behind a ``--tasks`` name (``mc:x.jsonl`` -> the ``mc`` class); None when unknown."""
    if name in TASKS:
        return TASKS[name]
    prefix, sep, _ = name.partition(":")
    return PARAMETERISED.get(prefix) if sep else None


def task_info(name: str) -> TaskInfo | None:
    cls = task_class(name)
    return cls.info if cls is not None else None


def known_tasks() -> str:
    return ", ".join([*TASKS, *(cls.info.usage or f"{p}:VALUE" for p, cls in PARAMETERISED.items())])


def describe_tasks() -> str:
    """One line per task for ``--help``."""
    return "; ".join(f"{cls.info.usage or name}: {cls.info.description}"
                     for name, cls in (*TASKS.items(), *PARAMETERISED.items()))


def parse_task_list(text: str | Sequence[str]) -> list[str]:
    parts = text.split(",") if isinstance(text, str) else list(text)
    names = [t.strip() for t in parts if t.strip()]
    if not names:
        raise FastpruneError(f"--tasks is empty; known tasks: {known_tasks()}")
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise FastpruneError(f"--tasks names {', '.join(sorted(dupes))} more than once")
    return names


def make_task(name: str, options=None) -> Task:
    """The task called ``name``, built from the stage options (defaults when None); an unknown name lists
    the known ones."""
    if options is None:
        from fastprune.evaluate.options import options_class

        options = options_class()()
    if name in TASKS:
        return TASKS[name].build(options)
    prefix, _, value = name.partition(":")
    if prefix in PARAMETERISED and value:
        return PARAMETERISED[prefix].build(options, value)
    raise FastpruneError(f"unknown task {name!r}; known tasks: {known_tasks()}")


def make_tasks(text: str | Sequence[str], options=None) -> list[Task]:
    return [make_task(n, options) for n in parse_task_list(text)]


for _cls in BUILTIN:
    register_task(_cls)
