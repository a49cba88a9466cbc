"""The one exception type that means "the user's input is wrong"."""
from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or files.

    Command-line scripts report it as one line on stderr and exit with status 2 (see
    :func:`sse.core.cli.run`); anything else is a bug and keeps its traceback.
    """


class FormatError(UserError):
    """A malformed line in one of the toolkit's plain-text lists."""

    def __init__(self, path, line_number: int | None, message: str) -> None:
        where = f"{path}:{line_number}" if line_number is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.message = message
        self.path = path
        self.line_number = line_number
