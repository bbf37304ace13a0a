"""Streaming calibration: every layer-importance statistic of a model over a corpus, in one pass.

``fastprune.calibrate.runner.calibrate`` is the entry point (``fastprune calibrate`` on the command line);
it is not imported here so that ``import fastprune.calibrate.cli`` stays light.
"""
