"""Tool commands that are not pipeline stages: ``fastprune env`` and ``fastprune info``."""
