"""``fastprune export CHECKPOINT --format gguf --out model.gguf [--type f32|f16|q8_0]``.

Module-level imports stay light (no torch/transformers) so ``fastprune --help`` is fast.
"""

from __future__ import annotations

import json

from fastprune.export.options import ExportOptions
from fastprune.options import add_options, options_from_args


def register(subparsers, name: str, help_text: str) -> None:
    p = subparsers.add_parser(name, help=help_text, description=help_text)
    add_options(p, ExportOptions)
    p.set_defaults(func=run)


def run(args) -> int:
    return execute(options_from_args(ExportOptions, args))


def execute(args: ExportOptions) -> int:
    """The export stage on ``args`` (``fastprune.export.run``): a verified GGUF file and its report."""
    from fastprune.export.api import export_gguf

    report = export_gguf(args.model, args.out, qtype=args.qtype, overwrite=args.overwrite, verify=args.verify,
                         trust_remote_code=args.trust_remote_code)
    if args.json:
        print(json.dumps({k: v for k, v in report.items() if k != "provenance"}, indent=1))
        return 0
    mib = report["bytes"] / 2**20
    types = ", ".join(f"{n} {t}" for t, n in report["tensor_types"].items())
    print(f"exported:   {report['source']} -> {report['out']} ({report['architecture']}, "
          f"{report['num_layers']} layers, {report['tensors']} tensors: {types}; {mib:.1f} MiB)")
    v = report["verification"]
    if v is None:
        print("verified:   no (--no-verify)")
    else:
        print(f"verified:   reloaded with transformers' GGUF loader, {v['num_layers']} layers, tokenizer identical, "
              f"max logit diff {v['max_rel_logit_diff']:.1e} of the largest logit (tolerance {v['tolerance']:.0e}), "
              f"top-1 agreement {v['top1_agreement']:.1%} of {v['positions']} positions")
        llama = v["llama_cpp"]
        detail = llama.get("reason") or f"{llama['prompts']} prompts x {llama['tokens_each']} greedy tokens"
        print(f"llama.cpp:  {llama['status']} ({detail})")
    return 0
