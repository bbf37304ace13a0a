"""Streaming calibration: every layer-importance statistic of a model over a corpus, in one pass.

``fastprune.calibrate.run(CalibrateOptions(...))`` is the stage (``fastprune calibrate`` on the command
line, a step of ``fastprune run``); ``fastprune.calibrate.runner.calibrate`` is the pass itself. Neither is
imported here, so that ``import fastprune.calibrate.cli`` stays light.
"""

from fastprune.calibrate.options import CalibrateOptions, CalibrationConfig

__all__ = ["CalibrateOptions", "CalibrationConfig", "run"]


def run(options: CalibrateOptions) -> int:
    from fastprune.calibrate.cli import execute

    return execute(options)
