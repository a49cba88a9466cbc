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


def configure(quiet: bool = False) -> None:
    """``quiet``: no bars and no progress lines (the scripts' ``--quiet``)."""
    global _quiet
    _quiet = quiet


@functools.lru_cache(maxsize=None)
def _log_bar_class():
    from tqdm import tqdm as base  # noqa: PLC0415

    class LogProgress(base):
        """A tqdm that logs ``desc: n/total [elapsed<remaining, rate]`` instead of drawing."""

        def __init__(self, *args, **kwargs):
            kwargs.update(file=io.StringIO(), mininterval=LOG_EVERY, maxinterval=LOG_EVERY, miniters=0,
                          dynamic_ncols=False, ncols=None, leave=True,
                          bar_format="{desc}: {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]")
            self._logged = -1
            super().__init__(*args, **kwargs)

        def display(self, msg=None, pos=None):
            if msg is None and self.n > 0 and self.n != self._logged:
                self._logged = self.n
                logger.info(self.format_meter(**self.format_dict).replace("/?", ""))
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
