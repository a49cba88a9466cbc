"""What every script in ``utils/`` shares: one argument parser, logging, and the user-error contract.

:class:`Parser` is the parent of every command's parser:

* one name for each kind of input across the scripts (``--path_wavs``, ``--path_vads``,
  ``--path_segments``, ``--path_sse``, ``--features``, ``--output``, ``--num_workers``); older
  spellings stay accepted as aliases (``--output_file``, ``--jobs`` ...);
* ``--snake_case`` and ``--kebab-case`` are both accepted for every option;
* defaults are shown in ``--help`` automatically;
* numeric options are validated when parsed (:func:`integer`, :func:`real`);
* outputs declared with ``output="file"`` or ``output="dir"`` are checked before any work
  (:func:`check_output`), and an output file that exists already is refused unless
  ``--overwrite`` is given (:func:`refuse_existing`: one rule for every command; resumable
  stores, which check their own stamp, are exempt);
* ``--quiet`` and ``--verbose`` are there for every script;
* a usage error is one ``error:`` line and exit status 2, like any other user error.

This module imports nothing heavy: ``--help`` never loads torch.
"""
from __future__ import annotations

import argparse
import difflib
import gc
import logging
import math
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable, Sequence

from sse.core import progress
from sse.core.errors import UserError
from sse.core.sharding import check_shard_arguments
from sse.defaults import BATCH_SIZE, CMVN_MODES, DEFAULT_LAYER, DEFAULT_WAV2VEC2, FRONTENDS

#: Third-party loggers whose INFO lines are noise to a user (faiss reports, at INFO, every
#: optional CPU build it fails to load before the one that works).
NOISY_LOGGERS = ("faiss.loader", "faiss", "matplotlib", "PIL", "numexpr", "onnx_ir", "onnxscript", "torch.onnx")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's layout and appends each option's default (when it has one)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "%(default)" in text or default is None or default is False or default is argparse.SUPPRESS \
                or default == []:
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"
        return text


def _key(option: str) -> str:
    """The spelling-independent key of a long option: ``--output-file`` and ``--output_file`` agree."""
    return "--" + option[2:].replace("-", "_")


def _listing_aliases(options: dict, aliases: Sequence[str]) -> dict:
    """``add_argument``'s options with the other accepted spellings appended to the help."""
    if aliases:
        options["help"] = f"{options.get('help', '')} [also: {', '.join(aliases)}]".lstrip()
    return options


#: Inputs every script names alike, checked to exist as soon as the command line is parsed.
_INPUTS = {"path_wavs": "corpus folder", "path_vads": "VAD list", "path_segments": "segment list",
           "path_sse": "model (checkpoint file or folder)", "features": "feature store", "embeddings": "dump",
           "queries": "query list"}


class Parser(argparse.ArgumentParser):
    """The shared parent parser of the toolkit's commands (see the module docstring)."""

    def __init__(self, description: str | None = None, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)  # --path_s must not silently mean --path_sse
        epilog = kwargs.pop("epilog", None)
        note = "Options may be spelt --snake_case or --kebab-case."
        kwargs["epilog"] = f"{epilog}\n\n{note}" if epilog else note
        super().__init__(description=description, **kwargs)
        self._aliases: dict[str, str] = {}
        self._outputs: list[tuple[str, str, str]] = []  # (dest, kind, option name)
        # (dest, option name, when, companion suffixes): refused when it exists, unless --overwrite
        self._guarded: list[tuple[str, str, str, tuple[str, ...]]] = []
        self._common_added = False

    def _add_common(self) -> None:
        """``--quiet``/``--verbose``, added last so they close the help."""
        if self._common_added:
            return
        self._common_added = True
        common = self.add_argument_group("logging")
        common.add_argument("--quiet", action="store_true",
                            help="only warnings and errors; no progress bars or progress lines")
        common.add_argument("--verbose", action="store_true", help="debug logging")

    def format_help(self) -> str:
        self._add_common()
        return super().format_help()

    # -- declaring options ------------------------------------------------------------------
    def add_argument(self, *names, aliases: Sequence[str] = (), output: str | None = None,
                     exists: str | None = None, companions: Sequence[str] = (), **kwargs):
        """``argparse`` plus ``aliases`` (other accepted spellings, listed in the help) and
        ``output`` ("file" or "dir": checked by :func:`check_output` once parsed).

        ``exists`` says what happens when the output is there already (:data:`EXISTS`):
        ``"refuse"`` (the default for a file) refuses it unless ``--overwrite`` is given, and
        adds that option; ``"refuse_final"`` does the same except on a ``--shard`` run, which
        writes pieces, not the output; ``"resume"`` (the default for a folder) is for a
        resumable store that checks its own stamp. ``companions``: suffixes of the files written
        beside the output (``.json``), refused alike."""
        action = super().add_argument(*names, **_listing_aliases(kwargs, aliases))
        self._register(action, aliases, output, exists, companions)
        return action

    def add_overwrite(self) -> None:
        """Add ``--overwrite`` (once), for a script that checks an output itself with
        :func:`refuse_existing` (one whose kind depends on other options)."""
        if not any("--overwrite" in action.option_strings for action in self._actions):
            super().add_argument("--overwrite", action="store_true",
                                 help="replace outputs that exist already (they are refused otherwise)")

    def _register(self, action: argparse.Action, aliases: Sequence[str], output: str | None,
                  exists: str | None = None, companions: Sequence[str] = ()) -> None:
        canonical = next((o for o in action.option_strings if o.startswith("--")), None)
        for alias in aliases:
            self._aliases[_key(alias)] = canonical
        if output is None:
            if exists is not None or companions:
                raise ValueError("exists and companions describe an output")
            return
        if output not in ("file", "dir"):
            raise ValueError(output)
        name = canonical or action.metavar or action.dest
        self._outputs.append((action.dest, output, name))
        exists = exists or ("refuse" if output == "file" else "resume")
        if exists not in EXISTS:
            raise ValueError(exists)
        if exists != "resume":
            self._guarded.append((action.dest, name, exists, tuple(companions)))
            self.add_overwrite()

    def add_argument_group(self, *args, **kwargs):
        group = super().add_argument_group(*args, **kwargs)
        parser = self
        original = group.add_argument

        def add_argument(*names, aliases: Sequence[str] = (), output: str | None = None,
                         exists: str | None = None, companions: Sequence[str] = (), **options):
            action = original(*names, **_listing_aliases(options, aliases))
            parser._register(action, aliases, output, exists, companions)
            return action

        group.add_argument = add_argument
        return group

    # -- parsing ----------------------------------------------------------------------------
    def normalize(self, argv: Sequence[str]) -> list[str]:
        """Rewrite kebab/snake spellings and aliases of long options to the declared name."""
        known = {}
        for action in self._actions:
            for option in action.option_strings:
                if option.startswith("--"):
                    known[_key(option)] = option
        known.update(self._aliases)
        out = []
        for position, token in enumerate(argv):
            if token == "--":
                out += argv[position:]
                break
            if token.startswith("--"):
                name, sep, value = token.partition("=")
                if name not in known.values() and _key(name) in known:
                    token = known[_key(name)] + sep + value
            out.append(token)
        return out

    def parse_args(self, args: Sequence[str] | None = None, namespace=None):
        self._add_common()
        argv = list(sys.argv[1:] if args is None else [str(arg) for arg in args])
        argv = self.normalize(argv)
        self._refuse_unknown(argv)
        parsed = super().parse_args(argv, namespace)
        for dest, kind, name in self._outputs:
            value = getattr(parsed, dest, None)
            if value is not None:
                check_output(value, kind, name)
        if getattr(parsed, "shard", None) is not None and hasattr(parsed, "nshards"):
            try:
                check_shard_arguments(parsed.shard, parsed.nshards)
            except UserError as error:
                self.error(str(error))
        for dest, what in _INPUTS.items():  # before any model loads (seconds) or work starts
            value = getattr(parsed, dest, None)
            if isinstance(value, str) and value and not os.path.exists(value):
                self.error(f"--{dest} {value}: no such {what}")
            if dest == "path_wavs" and isinstance(value, str) and value and not os.path.isdir(value):
                self.error(f"--{dest} {value}: not a folder (the corpus root the lists' wav paths are relative to)")
        shard_run = getattr(parsed, "shard", None) is not None
        for dest, name, when, companions in self._guarded:
            value = getattr(parsed, dest, None)
            if value is None or when == "refuse_final" and shard_run:  # a shard run writes pieces only
                continue
            try:
                refuse_existing([value, *(f"{value}{suffix}" for suffix in companions)], name, parsed.overwrite)
            except UserError as error:
                self.error(str(error))
        return parsed

    def _refuse_unknown(self, argv: Sequence[str]) -> None:
        """An unknown ``--option`` is the error reported, before a missing or conflicting one
        (which argparse would report first, hiding the misspelling that caused it)."""
        known = [option for action in self._actions for option in action.option_strings]
        for token in argv:
            if token == "--":
                return
            name = token.partition("=")[0]
            if name.startswith("--") and name not in known:
                close = difflib.get_close_matches(name, [o for o in known if o.startswith("--")], n=1)
                self.error(f"unknown option {name}" + (f"; did you mean {close[0]}?" if close else ""))

    def error(self, message: str):  # noqa: D102  (one line, exit status 2)
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def merge_positional(parser: Parser, args: argparse.Namespace, option_dest: str, positional_dest: str,
                     option: str, metavar: str, required: bool = True) -> None:
    """Accept an input either positionally (the paper's README) or by its option name."""
    by_option, by_position = getattr(args, option_dest), getattr(args, positional_dest)
    if by_option is not None and by_position is not None and by_option != by_position:
        parser.error(f"{metavar} is given twice ({by_position!r} and {option} {by_option!r})")
    value = by_option if by_option is not None else by_position
    if value is None and required:
        parser.error(f"the following arguments are required: {metavar} (or {option})")
    setattr(args, option_dest, value)


# -- numeric options ------------------------------------------------------------------------
def integer(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """An ``argparse`` type: an integer within [minimum, maximum]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if minimum is not None and value < minimum or maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{value} is out of range: {_range(minimum, maximum)}")
        return value
    parse.__name__ = "integer"
    return parse


def real(minimum: float | None = None, maximum: float | None = None, *, above: bool = False,
         below: bool = False) -> Callable[[str], float]:
    """An ``argparse`` type: a finite number within [minimum, maximum] (``above``/``below``
    make the bounds exclusive). nan and inf are always refused."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if minimum is not None and (value <= minimum if above else value < minimum) or \
                maximum is not None and (value >= maximum if below else value > maximum):
            raise argparse.ArgumentTypeError(
                f"{text} is out of range: {_range(minimum, maximum, above, below)}")
        return value
    parse.__name__ = "number"
    return parse


def _range(minimum, maximum, above: bool = False, below: bool = False) -> str:
    if minimum is not None and maximum is not None:
        return f"it must be in {'(' if above else '['}{minimum}, {maximum}{')' if below else ']'}"
    if minimum is not None:
        return f"it must be {'>' if above else '>='} {minimum}"
    return f"it must be {'<' if below else '<='} {maximum}"


# -- outputs ----------------------------------------------------------------------------------
#: What a declared output does when it exists already (``Parser.add_argument(exists=...)``).
EXISTS = ("refuse", "refuse_final", "resume")


def refuse_existing(paths: Sequence[str | os.PathLike], option: str, overwrite: bool) -> None:
    """The toolkit's one rule for outputs: an output that exists already (a file, or a folder
    that is not empty) is replaced only with ``--overwrite``; otherwise a :class:`UserError`
    names it, before any work. ``paths``: the output and the files written beside it."""
    if overwrite:
        return
    for path in paths:
        path = Path(path)
        if path.is_dir() and any(path.iterdir()) or path.exists() and not path.is_dir():
            raise UserError(f"{option} {path} exists; give --overwrite to replace it")


def check_output(path: str | os.PathLike, kind: str = "file", option: str = "output") -> None:
    """Refuse, before any work, an output that could not be written.

    ``kind="file"``: the path must not be a folder, and its folder must exist or be creatable
    (the nearest existing ancestor is a writable folder). ``kind="dir"``: the path must not be a
    file, and it must exist or be creatable in the same sense. Nothing is left behind.
    """
    path = Path(path)
    if str(path) == "":
        raise UserError(f"{option}: empty path")
    if kind == "file":
        if path.is_dir() or str(path).endswith(os.sep):
            raise UserError(f"{path}: is a folder; {option} must be a file path")
        folder = path.parent
    else:
        if path.exists() and not path.is_dir():
            raise UserError(f"{path}: exists and is not a folder; {option} must be a folder")
        folder = path
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{path}: cannot be created, because {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise UserError(f"{path}: cannot write in {existing} ({error.strerror or error})") from None


def require_suffix(path: str | os.PathLike, suffixes: Sequence[str], option: str = "output") -> None:
    """Refuse an output whose extension is not one of ``suffixes`` (e.g. ``.txt`` for a ``.npy``)."""
    suffix = Path(path).suffix.lower()
    if suffix not in suffixes:
        raise UserError(f"{path}: {option} must end in {' or '.join(suffixes)} "
                        f"(the extension says what the file holds), not {suffix or 'no extension'!r}")


# -- logging and running ----------------------------------------------------------------------
def setup_logging(verbose=False, quiet: bool = False) -> None:
    """Log to stderr; ``quiet`` keeps warnings and errors only and turns progress display off.

    Accepts the parsed arguments (``setup_logging(args)``) or the two flags.
    """
    if isinstance(verbose, argparse.Namespace):
        verbose, quiet = getattr(verbose, "verbose", False), getattr(verbose, "quiet", False)
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    logging.getLogger().setLevel(level)
    if not verbose:
        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    progress.configure(quiet=quiet)


def run(main: Callable[[], object]) -> None:
    """Call ``main``; a :class:`UserError` becomes one line on stderr and exit status 2."""
    try:
        main()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as interrupt:
        # The loops the interrupt left (generators, their progress bars) end now, silently, so
        # that "interrupted" is the last line and the exit does not wait on them.
        progress.stop()
        traceback.clear_frames(interrupt.__traceback__)
        del interrupt
        gc.collect()
        print("interrupted", file=sys.stderr, flush=True)
        sys.exit(130)
    except BrokenPipeError:
        reader_left()


def reader_left() -> None:
    """Output piped into a reader that stopped early (``| head``): exit quietly, as Unix tools do."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
    sys.exit(1)


# -- the option groups several scripts share --------------------------------------------------
def add_frontend_arguments(parser: Parser, default: str | None = "wav2vec2") -> None:
    """``--frontend``, ``--path_ssl`` and ``--layer``, as every script that computes frames takes them."""
    group = parser.add_argument_group("front-end")
    group.add_argument("--frontend", choices=FRONTENDS, default=default,
                       help="frame features" + ("" if default else
                                                " (default: the one recorded in the checkpoint)"))
    group.add_argument("--path_ssl", default=None,
                       help=f"fairseq wav2vec 2.0 checkpoint for --frontend wav2vec2 "
                            f"(default: {DEFAULT_WAV2VEC2}, or the one a checkpoint recorded)")
    group.add_argument("--layer", type=integer(0), default=None,
                       help=f"wav2vec 2.0 transformer layer whose output is used (default: {DEFAULT_LAYER}, "
                            "or the one a checkpoint recorded)")
    group.add_argument("--cmvn", choices=CMVN_MODES, default=None,
                       help="mean/variance normalisation of the frames: per VAD (utterance), per speaker over "
                            "all its VADs in the list (speaker), or none (default: speaker for mfcc/fbank, none "
                            "for wav2vec2, or what the checkpoint recorded)")


def add_device_argument(parser: Parser) -> None:
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")


def add_batch_size_argument(parser: Parser) -> None:
    parser.add_argument("--batch_size", type=integer(1), default=BATCH_SIZE, help="segments per forward pass")


def add_shard_arguments(parser: Parser, shard_help: str, nshards_help: str = "number of shards the work is split into") -> None:
    group = parser.add_argument_group("sharding (cluster array jobs)")
    group.add_argument("--nshards", type=integer(1), default=1, help=nshards_help)
    group.add_argument("--shard", type=integer(0), default=None, help=shard_help)
