"""Progress display: a tqdm bar on a terminal, plain periodic log lines otherwise.

A bar redrawn with cursor escapes is unreadable in a redirected log (a cluster job, ``tee``), so
when stderr is not a terminal every bar becomes a ``logging`` line at most every
:data:`LOG_EVERY` seconds, plus one when it finishes. ``--quiet`` (:func:`configure`) turns both
off. Library code calls :func:`tqdm` exactly as it would call ``tqdm.tqdm``.
"""
from __future__ import annotations

import functools
import io
import logging
import sys

logger = logging.getLogger("progress")

#: Seconds between two progress lines of one loop in a log file.
LOG_EVERY = 30.0
_quiet = False
_stopped = False


def configure(quiet: bool = False) -> None:
    """``quiet``: no bars and no progress lines (the scripts' ``--quiet``)."""
    global _quiet
    _quiet = quiet


def stop() -> None:
    """No more progress lines, not even from the loops still open (an interrupted run: their
    last line would come after the run said it stopped); new bars are not shown either."""
    global _quiet, _stopped
    _quiet = _stopped = True


@functools.lru_cache(maxsize=None)
def _log_bar_class():
    from tqdm import tqdm as base  # noqa: PLC0415

    class LogProgress(base):
        """A tqdm that logs a plain progress line instead of drawing."""

        def __init__(self, *args, **kwargs):
            kwargs.update(file=io.StringIO(), mininterval=LOG_EVERY, maxinterval=LOG_EVERY, miniters=0,
                          dynamic_ncols=False, ncols=None, leave=True)
            self._logged = -1
            super().__init__(*args, **kwargs)

        def line(self) -> str:
            """``desc: n/total unit [elapsed, remaining left]``; fractional counts to 3 digits."""
            def count(value):
                return f"{value:.3g}" if isinstance(value, float) and not value.is_integer() else f"{int(value)}"

            elapsed = self.format_dict["elapsed"]
            text = f"{self.desc}: {count(self.n)}"
            if self.total:
                text += f"/{count(self.total)}"
            text += f" {self.unit} [{self.format_interval(elapsed)}"
            if self.total and self.n > 0 and elapsed > 0:
                left = max(0.0, (self.total - self.n) * elapsed / self.n)
                text += f", {self.format_interval(left)} left"
            return text + "]"

        def display(self, msg=None, pos=None):
            if msg is None and self.n > 0 and self.n != self._logged and not _stopped:
                self._logged = self.n
                logger.info(self.line())
            return True

        def close(self):
            if not self.disable and self.n != self._logged and self.n > 0:
                self.display()
            super().close()

    return LogProgress


def tqdm(*args, **kwargs):
    """``tqdm.tqdm(*args, **kwargs)`` on a terminal; periodic log lines otherwise; nothing if quiet."""
    from tqdm import tqdm as base  # noqa: PLC0415

    if _quiet:
        kwargs["disable"] = True
    if kwargs.get("disable") or sys.stderr.isatty():
        return base(*args, **kwargs)
    return _log_bar_class()(*args, **kwargs)
