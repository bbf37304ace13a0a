"""``fastprune eval MODEL [MODEL ...] --tasks arith,parens,gsm8k,piqa,ppl,humaneval --out DIR``, and
``fastprune eval compare A B [--out DIR]`` (paired comparison of two finished evaluations).

Every flag comes from the stage's options dataclass (``fastprune.evaluate.options``): the general
options, then one group per task's options. Module-level imports stay light (no torch) so
``fastprune --help`` is fast.
"""

from __future__ import annotations


def register(subparsers, name: str, help_text: str) -> None:
    from fastprune.evaluate.options import options_class
    from fastprune.evaluate.registry import known_tasks, option_groups
    from fastprune.options import add_options

    p = subparsers.add_parser(
        name, help=help_text, description=help_text,
        epilog=f"Tasks: {known_tasks()} (lm_eval: needs lm-evaluation-harness installed). "
               "The first model is the base every other model is compared with. "
               "'fastprune eval compare A B' compares two finished evaluations (output folders or their "
               "scores.json) item by item: paired test, p-value and whether the difference is resolved.",
    )
    groups = option_groups()
    add_options(p, options_class(), exclude=tuple(groups))
    for group, options_cls in groups.items():
        add_options(p.add_argument_group(f"{group} task options"), options_cls, prefix=f"{group}_")
    p.set_defaults(func=run)


def options_from_args(args):
    from fastprune.evaluate.options import options_class
    from fastprune.options import options_from_args as build

    return build(options_class(), args)


def run(args) -> int:
    from fastprune.errors import FastpruneError
    from fastprune.evaluate.stage import run as run_stage

    if args.models[0] == "compare":
        if len(args.models) != 3:
            raise FastpruneError("usage: fastprune eval compare A B (two eval output folders or scores.json)")
        from fastprune.evaluate.compare import run_compare

        run_compare(args.models[1], args.models[2], out=args.out)
        return 0
    run_stage(options_from_args(args))
    return 0
