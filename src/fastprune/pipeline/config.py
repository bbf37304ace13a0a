"""The study's configuration: dataclasses that round-trip through YAML, with strict key checking."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import yaml

from fastprune.errors import FastpruneError

STAGE_ORDER = ("calibrate", "prune", "generate", "train", "evaluate", "bench")


@dataclass
class CalibrateConfig:
    data: str = "wikitext2"
    field: str | None = None
    template: str | None = None
    seq_len: int = 256
    max_tokens: int = 16384
    batch_size: int = 4
    extra_args: list[str] = dc_field(default_factory=list)


@dataclass
class PruneConfig:
    strategy: str | list[str] = "block"  # a list prunes with each strategy at every ratio
    ratios: list[float] = dc_field(default_factory=lambda: [0.25])
    extra_args: list[str] = dc_field(default_factory=list)

    @property
    def strategies(self) -> list[str]:
        return [self.strategy] if isinstance(self.strategy, str) else list(self.strategy)


@dataclass
class GenerateConfig:
    prompts: str = "gsm8k-train"
    field: str | None = None
    limit: int = 256
    max_new_tokens: int = 256
    batch_size: int = 8
    temperature: float = 0.9
    top_p: float = 0.95
    system_prompt: str | None = None
    extra_args: list[str] = dc_field(default_factory=list)


@dataclass
class TrainConfig:
    mode: str = "lora"
    epochs: int = 1
    max_steps: int | None = None
    lr: float | None = None
    batch_size: int = 4
    grad_accum: int = 1
    max_seq_len: int = 512
    extra_args: list[str] = dc_field(default_factory=list)


@dataclass
class EvaluateConfig:
    tasks: list[str] = dc_field(default_factory=lambda: ["arith", "parens", "piqa", "gsm8k", "ppl"])
    limit: int | None = 50
    task_limits: dict[str, int] = dc_field(default_factory=dict)  # per-task item counts overriding limit
    batch_size: int = 8
    max_new_tokens: int | None = None
    allow_unsandboxed_exec: bool = False  # run model-written code without an OS sandbox (unsafe)
    extra_args: list[str] = dc_field(default_factory=list)


@dataclass
class BenchConfig:
    batch_sizes: list[int] = dc_field(default_factory=lambda: [1, 8])
    prompt_len: int = 128
    new_tokens: int = 32
    repeats: int = 3
    rounds: int = 1  # passes over the whole grid, pooled: drift on a shared machine hits every model alike
    compare_hf: bool = False
    hf_variants: list[str] = dc_field(default_factory=lambda: ["dynamic", "static"])
    max_interval_width: float = 0.10  # same defaults as fastprune.bench.stats
    max_cv: float = 0.10
    extra_args: list[str] = dc_field(default_factory=list)


@dataclass
class RunConfig:
    model: str = "smollm2-135m"
    dtype: str = "auto"
    device: str = "auto"
    seed: int = 0
    threads: int | str | None = None  # CPU threads (None/"auto": fastprune.threads' default); --threads wins
    stages: list[str] = dc_field(default_factory=lambda: list(STAGE_ORDER))
    calibrate: CalibrateConfig = dc_field(default_factory=CalibrateConfig)
    prune: PruneConfig = dc_field(default_factory=PruneConfig)
    generate: GenerateConfig = dc_field(default_factory=GenerateConfig)
    train: TrainConfig = dc_field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = dc_field(default_factory=EvaluateConfig)
    bench: BenchConfig = dc_field(default_factory=BenchConfig)

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
            if "calibrate" not in self.stages and "prune" in self.stages and strategy not in (
                "reverse", "explicit", "iterative"
            ):
                raise FastpruneError(f"prune strategy {strategy!r} needs the calibrate stage")
        limits = self.evaluate.task_limits
        if not isinstance(limits, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 1 for k, v in limits.items()
        ):
            raise FastpruneError(f"evaluate.task_limits must map task names to item counts >= 1, got {limits!r}")
        stray = sorted(set(limits) - set(self.evaluate.tasks))
        if stray:
            raise FastpruneError(f"evaluate.task_limits names {', '.join(stray)}, not in evaluate.tasks")
        if not self.prune.ratios or any(not 0 < r < 1 for r in self.prune.ratios):
            raise FastpruneError(f"prune.ratios must be fractions in (0, 1), got {self.prune.ratios}")


def _build(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise FastpruneError(f"{where or 'config'} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        prefix = f"{where}." if where else ""
        raise FastpruneError(
            f"unknown config key '{prefix}{unknown[0]}'; allowed keys{' in ' + where if where else ''}: "
            f"{', '.join(fields)}"
        )
    kwargs = {}
    for key, value in data.items():
        default = fields[key].default_factory() if fields[key].default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(default):
            kwargs[key] = _build(type(default), value or {}, f"{where}.{key}" if where else key)
        else:
            kwargs[key] = value
    return cls(**kwargs)


def config_from_dict(data: dict) -> RunConfig:
    config = _build(RunConfig, data or {}, "")
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
    return dataclasses.asdict(config)
