"""``fastprune info MODEL``: architecture, layers, parameters and bytes per layer."""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> int:
    from fastprune.models import load_model, model_info, parse_model_spec

    spec = parse_model_spec(args.model)
    # Random production configs (8B and up) are counted on the meta device: no memory, no init time.
    device = "meta" if spec.kind == "random" and args.device == "cpu" else args.device
    loaded = load_model(spec, dtype=args.dtype, device=device, trust_remote_code=args.trust_remote_code)
    info = model_info(loaded)
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    params = info["parameters"]
    print(f"model          {info['model']}")
    print(f"architecture   {info['architecture']} ({info['model_type']})")
    print(f"layers         {info['num_layers']}  hidden {info['hidden_size']}  vocab {info['vocab_size']}")
    print(f"parameters     {params['total']:,} total, {params['layers_total']:,} in layers "
          f"({params['per_layer'][0]:,} per layer), embeddings {params['embeddings']:,}, "
          f"lm_head {params['lm_head']:,}{' (tied)' if params['lm_head_tied'] else ''}")
    b = info["bytes"]
    mib = 2**20
    print(f"bytes ({info['dtype']})  {b['total'] / mib:.1f} MiB total, {b['per_layer'][0] / mib:.2f} MiB per layer, "
          f"{b['rest'] / mib:.1f} MiB outside the layers")
    if info["per_layer_config_fields"]:
        print(f"per-layer config fields: {', '.join(info['per_layer_config_fields'])}")
    return 0


def register(sub, name: str, help_text: str) -> None:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.add_argument("model", help="model spec: smollm2-135m, a checkpoint dir, a .gguf, random:NAME, tiny:FAMILY")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--dtype", default="auto", help="float32|bfloat16|float16|auto")
    parser.add_argument("--device", default="cpu", help="cpu|cuda|auto")
    parser.add_argument("--trust-remote-code", action="store_true", help="allow custom model code (off by default)")
    parser.set_defaults(func=run)
