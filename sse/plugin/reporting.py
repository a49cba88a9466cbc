"""A user error raised inside ``fairseq-train`` ends it as one ``error:`` line and exit status 2.

fairseq-train runs the plugin's tasks in its own ``main``; a :class:`sse.core.errors.UserError`
(a malformed list, labels that never repeat...) would otherwise end in a traceback and exit
status 1, burying the reason in the log. The recipes show that line as their own error.
"""
from __future__ import annotations

import os
import sys

from sse.core.errors import UserError

_WORKER_PREFIXES = ("sse.core.errors.UserError: ", "sse.core.errors.FormatError: ")


def user_error_message(error: BaseException) -> str | None:
    """The message of the user error behind ``error``, if there is one.

    Follows the cause chain, and reads errors re-raised from DataLoader worker processes
    (torch puts the worker's traceback in the message, the user error on its last line).
    """
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        text = str(error)
        if "Original Traceback" in text:
            last = text.rstrip().splitlines()[-1]
            for prefix in _WORKER_PREFIXES:
                if last.startswith(prefix):
                    return last[len(prefix):]
        elif isinstance(error, UserError):
            return text
        error = error.__cause__ or error.__context__
    return None


def install() -> None:
    """Report uncaught user errors as ``error: MESSAGE`` and exit with status 2."""
    previous = sys.excepthook
    if getattr(previous, "sse_reporting", False):
        return

    def hook(kind, error, traceback):
        message = user_error_message(error)
        if message is None:
            return previous(kind, error, traceback)
        sys.stdout.flush()
        print(f"error: {message}", file=sys.stderr, flush=True)
        os._exit(2)  # sys.exit is not honoured inside an excepthook

    hook.sse_reporting = True
    sys.excepthook = hook
