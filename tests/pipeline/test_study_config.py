"""configs/study-smollm2.yaml: it loads, and its item counts are what the power calculation in its comments
says (every "f(delta=..., discordant=...) = n" line is recomputed)."""

import re
from pathlib import Path

from fastprune.evaluate import stats
from fastprune.pipeline.config import load_config
from fastprune.pipeline.steps import build_steps

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "study-smollm2.yaml"
LINE = re.compile(r"(mcnemar_sample_size|required_items)\(delta=([\d.]+), discordant=([\d.]+)\) = (\d+)")


def test_power_calculation_in_the_comments_is_reproduced():
    text = CONFIG.read_text()
    claims = LINE.findall(text)
    assert len({c[0] for c in claims}) == 2 and len(claims) >= 4
    for name, delta, psi, n in claims:
        assert getattr(stats, name)(float(delta), float(psi)) == int(n), (name, delta, psi)
    required = {(float(d), float(p)): int(n) for name, d, p, n in claims if name == "required_items"}
    config = load_config(CONFIG)
    # probes resolve a 10-point loss, PIQA a 5-point loss, at 80% power
    assert config.evaluate.limit >= required[0.10, 0.30]
    assert config.evaluate.task_limits["piqa"] >= required[0.05, 0.20]
    assert stats.mcnemar_power(config.evaluate.task_limits["piqa"], 0.05, 0.20) >= 0.8


def test_study_shape(tmp_path):
    config = load_config(CONFIG)
    assert {"block"} < set(config.prune.strategies) and set(config.prune.strategies) & {"bi", "reverse"}
    assert 2 <= len(config.prune.ratios) <= 3
    assert config.generate.limit >= 200 and "train" in config.stages
    assert {"piqa", "arith_1dc"} <= set(config.evaluate.tasks)
    evaluated = [s.label for s in build_steps(config, tmp_path) if s.stage == "evaluate"]
    n_variants = len(config.prune.strategies) * len(config.prune.ratios)
    assert len(evaluated) == 1 + 2 * n_variants and evaluated[0] == "base"
