"""Diagnostics through ``logging``: each module logs to ``logging.getLogger(__name__)``, all under the
``fastprune`` logger, which the command line sets up once (``configure``) to print plain messages on
stderr, the way the stages printed them before.

Levels: DEBUG (``-v``) for tracing a run; INFO (the default) for progress and summaries; WARNING for what
changes how a result reads (truncated examples, code run without an OS sandbox, a baseline that failed).
``-q`` keeps warnings and errors only. Used as a library, fastprune configures nothing: the application's
logging decides, and Python's last-resort handler still shows warnings.
"""

from __future__ import annotations

import logging
import sys

ROOT = "fastprune"
QUIET, DEFAULT, VERBOSE = -1, 0, 1
LEVELS = {QUIET: logging.WARNING, DEFAULT: logging.INFO, VERBOSE: logging.DEBUG}


class StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a message is logged, not as it was at set-up, so a redirect
    (``contextlib.redirect_stderr``, a test's capture) sees the messages, as it saw the old prints."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


_configured: int | None = None


def configure(verbosity: int = DEFAULT) -> None:
    """Show ``fastprune`` messages at ``verbosity`` (QUIET, DEFAULT or VERBOSE) on stderr; calling it again
    only changes the level (one handler however often it is called)."""
    global _configured
    if verbosity not in LEVELS:
        raise ValueError(f"verbosity must be one of {sorted(LEVELS)}, not {verbosity!r}")
    logger = logging.getLogger(ROOT)
    if not any(isinstance(h, StderrHandler) for h in logger.handlers):
        logger.addHandler(StderrHandler())
    logger.setLevel(LEVELS[verbosity])
    _configured = verbosity


def configured() -> int | None:
    """The verbosity ``configure`` set last; None when nothing configured fastprune's logging."""
    return _configured
