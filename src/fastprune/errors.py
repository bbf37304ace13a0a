"""The one exception type the CLI turns into a single clear error line."""


class FastpruneError(Exception):
    """A problem with the user's input or environment, with a message that names it and the fix.

    The CLI prints ``error: <message>`` and exits non-zero instead of showing a traceback.
    """
