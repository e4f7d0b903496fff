"""The one error type the CLI turns into a clear one-line message."""


class MbnnError(Exception):
    """A user-facing failure: the message says what went wrong and what to do."""
