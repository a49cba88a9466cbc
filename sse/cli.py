"""What every script in ``utils/`` shares: logging set-up and the user-error contract."""
from __future__ import annotations

import logging
import sys
from typing import Callable

from .errors import UserError


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)


def run(main: Callable[[], object]) -> None:
    """Call ``main``; a :class:`UserError` becomes one line on stderr and exit status 2."""
    try:
        main()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def add_frontend_arguments(parser, default: str | None = "wav2vec2") -> None:
    """``--frontend``, ``--path_ssl`` and ``--layer``, as every script that computes frames takes them."""
    from .frontend import CMVN_MODES, DEFAULT_LAYER, DEFAULT_WAV2VEC2, FRONTENDS  # noqa: PLC0415

    parser.add_argument("--frontend", choices=FRONTENDS, default=default,
                        help=f"frame features (default: {default or 'the one recorded in the checkpoint'})")
    parser.add_argument("--path_ssl", default=None,
                        help=f"fairseq wav2vec 2.0 checkpoint for --frontend wav2vec2 (default {DEFAULT_WAV2VEC2})")
    parser.add_argument("--layer", type=int, default=None,
                        help=f"wav2vec 2.0 transformer layer whose output is used (default {DEFAULT_LAYER})")
    parser.add_argument("--cmvn", choices=CMVN_MODES, default=None,
                        help="per-VAD mean/variance normalisation of the frames (default: utterance for "
                             "mfcc/fbank, none for wav2vec2, or what the checkpoint recorded)")
