"""``fastprune export``: a (pruned) checkpoint in another runtime's format, verified on export (GGUF for llama.cpp)."""

from fastprune.export.options import ExportOptions

__all__ = ["ExportOptions", "run"]


def run(options: ExportOptions) -> int:
    """The export stage on ``options`` (what ``fastprune export`` calls)."""
    from fastprune.export.cli import execute

    return execute(options)
