"""The export stage's options, defined once (``fastprune export`` flags derive from :class:`ExportOptions`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastprune.models.options import trust_remote_code_option
from fastprune.options import option

TYPE_HELP = "tensor type of the matrices: f32 (default, exact), f16, q8_0 (norms and biases stay f32)"


@dataclass
class ExportOptions:
    model: str = option(help="model spec: a (pruned) checkpoint dir, smollm2-135m, a .gguf, tiny:FAMILY",
                        positional=True, yaml=False)
    format: Literal["gguf"] = option(help="output format (gguf: llama.cpp)")
    out: str = option(help="output file (model.gguf); a report goes to model.gguf.json", yaml=False)
    qtype: Literal["f32", "f16", "q8_0"] = option("f32", flag="--type", help=TYPE_HELP)
    overwrite: bool = option(False, help="replace an existing --out", yaml=False)
    verify: bool = option(True, flag="--no-verify",
                          help="skip reloading the file and comparing its logits with the checkpoint's")
    trust_remote_code: bool = trust_remote_code_option()
    json: bool = option(False, help="print the report as JSON", yaml=False)
