"""Speed benchmarks: what depth reduction buys against its ideal, on the hardware at hand."""

__all__ = ["BenchOptions", "run"]


def __getattr__(name: str):
    if name == "BenchOptions":
        from fastprune.bench.options import BenchOptions

        return BenchOptions
    raise AttributeError(f"module 'fastprune.bench' has no attribute {name!r}")


def run(options) -> int:
    """The bench stage on a ``BenchOptions`` (what ``fastprune bench`` and ``fastprune run`` call)."""
    from fastprune.bench.cli import execute

    return execute(options)
