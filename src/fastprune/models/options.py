"""How a stage loads its model: dtype, device, seed and remote code, one definition for every stage.

Stages include :class:`ModelOptions` with ``flatten=True`` (flags ``--dtype``, ``--device``, ``--seed``,
``--trust-remote-code``; in ``fastprune run`` the run-wide keys of the same names). A stage whose settings
class keeps these as its own flat fields (train) declares them with the factories below, so a default or a
help text still lives here only.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastprune.options import option

DTYPE_HELP = "float32, bfloat16, float16 or auto (the checkpoint's dtype on GPU, float32 on CPU)"
DEVICE_HELP = "cpu, cuda, cuda:N or auto (a GPU when there is one, else cpu)"
SEED_HELP = "run seed: random weights of random:/tiny: specs, shuffling and sampling derive from it"
TRUST_HELP = "allow model code shipped with the checkpoint (off by default)"


def dtype_option(help: str = DTYPE_HELP, **spec):
    return option("auto", help=help, **spec)


def device_option(help: str = DEVICE_HELP, **spec):
    return option("auto", help=help, **spec)


def seed_option(help: str = SEED_HELP, **spec):
    return option(0, help=help, **spec)


def trust_remote_code_option(**spec):
    return option(False, help=TRUST_HELP, **spec)


@dataclass
class ModelOptions:
    dtype: str = dtype_option()
    device: str = device_option()
    seed: int = seed_option()
    trust_remote_code: bool = trust_remote_code_option()
