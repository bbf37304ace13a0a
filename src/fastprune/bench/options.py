"""The bench stage's options, defined once: ``fastprune bench`` flags and the ``bench:`` section of a
``fastprune run`` config both derive from :class:`BenchOptions`. The serving benchmark's options
(``--engine vllm``) are command-line only: the pipeline's bench step measures the fastprune engine, whose
bench.json its report reads."""

from __future__ import annotations

from dataclasses import dataclass

from fastprune.bench.stats import MAX_CV, MAX_INTERVAL_WIDTH
from fastprune.engines.options import EngineOptions
from fastprune.models.options import ModelOptions
from fastprune.options import option

SERVING = "serving benchmark (--engine vllm)"


@dataclass
class BenchOptions:
    models: list[str] = option(help="model specs; the first is the base the others are compared to",
                               positional=True, nargs="+", yaml=False)
    out: str = option(help="output dir for bench.json and speedup.png", yaml=False)
    drop_layers: list[int] = option([], help="also measure the first model with the last n layers before the "
                                             "final one removed in memory, for each n (e.g. 2,4,8)")
    batch_sizes: list[int] = option([1, 8], help="comma-separated batch sizes")
    prompt_len: int = option(128, help="prompt tokens per sequence")
    new_tokens: int = option(32, help="generated tokens per sequence")
    warmup: int = option(1, help="untimed runs per point before the timed ones")
    repeats: int = option(3, help="timed runs per point and round")
    rounds: int = option(1, help="run the whole grid this many times and pool the samples, so a shared "
                                 "machine's drift hits every variant alike")
    compare_hf: bool = option(False, help="also measure HF generate")
    hf_variants: list[str] = option(["dynamic", "static"], help="HF baselines with --compare-hf: dynamic "
                                    "(default cache), static (cache_implementation='static'), compile (static + "
                                    "torch.compile; compile time reported apart; slow to compile on CPU)")
    max_interval_width: float = option(MAX_INTERVAL_WIDTH, help="flag a ratio unreliable when its 95% interval "
                                                                "is wider than this share of it")
    max_cv: float = option(MAX_CV, help="flag a ratio unreliable when either side's samples vary more than this "
                                        "coefficient of variation")
    no_engine: bool = option(False, help="skip the fastprune engine (HF only)")
    load: ModelOptions = option(default_factory=ModelOptions, flatten=True, yaml=False,
                                help="how the models load (run-wide keys in fastprune run)")
    engine: EngineOptions = option(default_factory=EngineOptions, flatten=True, yaml=False,
                                   help="fastprune: the speed benchmark; vllm: the serving benchmark")
    concurrency: list[int] = option([1, 4], help="comma-separated numbers of requests in flight", group=SERVING,
                                    yaml=False)
    mix: str | None = option(None, help="prompt:answer token lengths the requests cycle through, e.g. "
                                        "128:32,512:64 (default: --prompt-len:--new-tokens)", group=SERVING,
                             yaml=False)
    serving_requests: int = option(16, help="requests per concurrency and round", group=SERVING, yaml=False)
