"""fastprune: depth (layer) pruning of LLMs, and an honest measure of what it costs.

Importing this package is cheap and never touches CUDA; the stages live in subpackages
(``fastprune.models``, ``fastprune.ops``, ``fastprune.calibrate``, ``fastprune.prune``, ...).
"""

from fastprune.errors import FastpruneError
from fastprune.threads import prepare_openmp

# Idle OpenMP threads sleep instead of spinning (unless the user chose a wait policy): effective only when
# fastprune is imported before torch, as `python -m fastprune` does. See fastprune/threads.py.
prepare_openmp()

__version__ = "0.1.0"
__all__ = ["FastpruneError", "__version__"]
