"""fastprune: depth (layer) pruning of LLMs, and an honest measure of what it costs.

Importing this package is cheap and never touches CUDA; the stages live in subpackages
(``fastprune.models``, ``fastprune.ops``, ``fastprune.calibrate``, ``fastprune.prune``, ...).
"""

from fastprune.errors import FastpruneError

__version__ = "0.1.0"
__all__ = ["FastpruneError", "__version__"]
