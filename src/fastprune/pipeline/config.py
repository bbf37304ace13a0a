"""The study's configuration: one YAML section per stage, derived from that stage's options dataclass.

Each section holds the stage's options minus the ones the pipeline sets itself (``yaml=False`` there: the
model, inputs and outputs of each step, and the run-wide keys below), with the stage command's own
defaults, so ``fastprune run`` and ``fastprune STAGE`` mean the same thing "with the defaults". The
run-wide keys are the model spec, the model-loading options (``dtype``, ``device``, ``seed``,
``trust_remote_code``: ``fastprune.models.options.ModelOptions``) and the engine options (``engine``,
``vllm_*``: ``fastprune.engines.options.EngineOptions``, used by generate and evaluate). Keys are strict:
an unknown one is an error naming it and listing the allowed ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_type_hints

import yaml

from fastprune.bench import BenchOptions
from fastprune.calibrate import CalibrateOptions
from fastprune.engines.options import EngineOptions
from fastprune.errors import FastpruneError
from fastprune.evaluate import EvaluateOptions
from fastprune.generate import GenerateOptions
from fastprune.models.options import ModelOptions
from fastprune.options import option, options_from_mapping, options_to_mapping, section_of, yaml_fields
from fastprune.prune import PruneOptions
from fastprune.train import TrainConfig

STAGE_ORDER = ("calibrate", "prune", "generate", "train", "evaluate", "bench")
PRUNE_STRATEGIES = get_args(get_type_hints(PruneOptions)["strategy"])

# What each step's options get from the pipeline instead of its YAML section: the command-line options
# that have no key there (tests/pipeline/test_config.py checks this list against the stages' options).
RUN_WIDE = ("dtype", "device", "seed", "trust_remote_code")
PIPELINE_SETS = {
    "calibrate": {"model", "out", *RUN_WIDE, "overwrite"},
    "prune": {"model", "importance", "strategy", "drop", "ratio", "layers", "out", "overwrite", "dry_run", "json",
              "vllm_python", *RUN_WIDE},
    "generate": {"model", "out", *RUN_WIDE, *yaml_fields(EngineOptions)},
    "train": {"model", "data", "out", *RUN_WIDE, "overwrite"},
    "evaluate": {"models", "out", "progress", *RUN_WIDE, *yaml_fields(EngineOptions)},
    # the serving benchmark (--engine vllm) is command-line only: the report reads the speed bench's JSON
    "bench": {"models", "out", *RUN_WIDE, *yaml_fields(EngineOptions), "concurrency", "mix", "serving_requests"},
}


@dataclass
class PruneVariants:
    """The prune section's own keys: which variants the study makes (``fastprune prune`` makes one)."""

    strategy: str | list[str] = option("block", help="a strategy (see fastprune prune --help), or a list: each "
                                                     "strategy prunes at every ratio")
    ratios: list[float] = option([0.25], help="fractions of the layers to remove, one variant each")

    @property
    def strategies(self) -> list[str]:
        return [self.strategy] if isinstance(self.strategy, str) else list(self.strategy)


CalibrateSection = section_of(CalibrateOptions, "CalibrateSection")
PruneSection = section_of(PruneOptions, "PruneSection", base=PruneVariants)
GenerateSection = section_of(GenerateOptions, "GenerateSection")
TrainSection = section_of(TrainConfig, "TrainSection")
BenchSection = section_of(BenchOptions, "BenchSection")
# the evaluate options of the tasks registered when the pipeline is imported (each task's group nested)
EvaluateSection = section_of(EvaluateOptions, "EvaluateSection")


@dataclass
class RunConfig:
    model: str = option("smollm2-135m", help="the base model every stage starts from")
    load: ModelOptions = option(default_factory=ModelOptions, flatten=True,
                                help="how every stage loads its model: dtype, device, seed, trust_remote_code")
    threads: Any = option(None, help="CPU threads (null/auto: fastprune.threads' default); --threads wins")
    stages: list[str] = option(list(STAGE_ORDER), help="the stages to run, in study order")
    engine: EngineOptions = option(default_factory=EngineOptions, flatten=True,
                                   help="which engine generate and evaluate run on: engine, vllm_*")
    calibrate: CalibrateSection = option(default_factory=CalibrateSection, help="fastprune calibrate's options")
    prune: PruneSection = option(default_factory=PruneSection, help="the variants, and fastprune prune's options")
    generate: GenerateSection = option(default_factory=GenerateSection, help="fastprune generate's options")
    train: TrainSection = option(default_factory=TrainSection, help="fastprune train's options")
    evaluate: EvaluateSection = option(default_factory=EvaluateSection, help="fastprune eval's options")
    bench: BenchSection = option(default_factory=BenchSection, help="fastprune bench's options")

    @property
    def seed(self) -> int:
        return self.load.seed

    def validate(self) -> None:
        from fastprune.threads import parse_threads

        parse_threads(self.threads, "config key 'threads'")
        unknown = [s for s in self.stages if s not in STAGE_ORDER]
        if unknown:
            raise FastpruneError(f"unknown stage(s) {unknown} in 'stages'; allowed: {', '.join(STAGE_ORDER)}")
        strategies = self.prune.strategies
        if not strategies or not all(isinstance(s, str) for s in strategies) or len(set(strategies)) != len(
            strategies
        ):
            raise FastpruneError(f"prune.strategy must be a name or a list of distinct names, got "
                                 f"{self.prune.strategy!r}")
        for strategy in strategies:
            if strategy not in PRUNE_STRATEGIES:
                raise FastpruneError(f"prune.strategy {strategy!r} is not one of {', '.join(PRUNE_STRATEGIES)}")
            if "calibrate" not in self.stages and "prune" in self.stages and strategy not in (
                "reverse", "explicit", "iterative"
            ):
                raise FastpruneError(f"prune strategy {strategy!r} needs the calibrate stage")
        limits = self.evaluate.task_limits
        if not all(v >= 1 for v in limits.values()):
            raise FastpruneError(f"evaluate.task_limits must map task names to item counts >= 1, got {limits!r}")
        stray = sorted(set(limits) - set(self.evaluate.tasks))
        if stray:
            raise FastpruneError(f"evaluate.task_limits names {', '.join(stray)}, not in evaluate.tasks")
        if not self.prune.ratios or any(not 0 < r < 1 for r in self.prune.ratios):
            raise FastpruneError(f"prune.ratios must be fractions in (0, 1), got {self.prune.ratios}")


SECTIONS = {"calibrate": CalibrateSection, "prune": PruneSection, "generate": GenerateSection,
            "train": TrainSection, "evaluate": EvaluateSection, "bench": BenchSection}


def config_from_dict(data: dict) -> RunConfig:
    data = dict(data or {})
    for name in SECTIONS:
        section = data.get(name)
        if section is None and name in data:
            data[name] = {}  # an empty section in YAML (`calibrate:`) means its defaults
        elif isinstance(section, dict) and "extra_args" in section:
            raise FastpruneError(
                f"config key '{name}.extra_args' is gone: every option of the stage is a key of its section "
                f"now (e.g. train: {{warmup_steps: 2}}); allowed keys in {name}: "
                f"{', '.join(yaml_fields(SECTIONS[name]))}")
    config = options_from_mapping(RunConfig, data, "")
    config.validate()
    return config


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``--set a.b=value`` overrides (values parsed as YAML) to the raw config mapping."""
    for item in overrides:
        if "=" not in item:
            raise FastpruneError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise FastpruneError(f"--set {key}: {part} is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    return data


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    path = Path(path)
    if not path.is_file():
        raise FastpruneError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise FastpruneError(f"config {path} is not valid YAML: {exc}") from exc
    return config_from_dict(apply_overrides(data, overrides or []))


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    return options_to_mapping(config)
