"""``fastprune calibrate MODEL --data SRC --out DIR``: the command line of the calibration stage.

Module-level imports stay light (argparse and the options dataclass) so ``fastprune --help`` is fast;
torch and transformers load inside ``execute``.
"""

from __future__ import annotations

from fastprune.calibrate.options import CalibrateOptions
from fastprune.options import add_options, options_from_args


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(
        name,
        help=help_text,
        description=(
            "Stream a corpus through MODEL once and write per-layer importance statistics (cosine and "
            "angular distances between all layer boundaries, block influence, norms, update ratios, and "
            "optionally loss ablation / Taylor scores) to DIR/importance.json with heatmap.png and bi.png. "
            "Rerunning the same command on the same DIR resumes an interrupted run. Under torchrun the "
            "corpus is sharded across ranks."
        ),
    )
    add_options(p, CalibrateOptions)
    p.set_defaults(func=run)


def run(args) -> int:
    return execute(options_from_args(CalibrateOptions, args))


def execute(options: CalibrateOptions) -> int:
    """The calibration stage on ``options`` (``fastprune.calibrate.run``): importance.json in options.out."""
    import json
    import sys

    from fastprune.calibrate.distributed import local_rank_from_env
    from fastprune.calibrate.runner import calibrate
    from fastprune.data import open_source
    from fastprune.models import load_model
    from fastprune.utils_io import require_output_dir

    o = options
    require_output_dir(o.out)
    # Bad data fails here, before a model is loaded.
    source = open_source(
        o.data,
        field=o.field,
        template=o.template,
        split=o.split,
        text_mode="whole" if o.whole_file else "lines",
        shuffle=o.shuffle,
        seed=o.load.seed,
    )
    device = o.load.device
    if device in ("auto", "cuda"):
        import torch

        if torch.cuda.is_available():
            device = f"cuda:{local_rank_from_env()}"
        elif device == "auto":
            device = "cpu"
    loaded = load_model(
        o.model, dtype=o.load.dtype, device=device, trust_remote_code=o.load.trust_remote_code, seed=o.load.seed
    )
    result = calibrate(loaded, source, o.calibration, o.out, model_name=o.model)
    if result is not None and sys.stdout.isatty():
        print(json.dumps({k: result[k] for k in ("model", "num_layers", "tokens", "sequences")}))
    return 0
