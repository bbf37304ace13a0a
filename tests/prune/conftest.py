"""The prune tests read importance files in the calibrate layout; their factory lives with the reader's tests."""

from tests.importance.conftest import compute_importance, importance_file  # noqa: F401
