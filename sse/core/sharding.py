"""The one rule for splitting work into shards (``--nshards N --shard K``), used by every script.

Shard ``K`` of ``N`` owns the contiguous block ``[K * count // N, (K + 1) * count // N)`` of the
items, in list order. Contiguous blocks (not round-robin) mean that concatenating the shards'
outputs in shard order gives exactly what one unsharded run gives. Three items over two shards
split as ``{0}``, ``{1, 2}``.

Without ``--shard``, a script does every shard, one after the other.
"""
from __future__ import annotations

from sse.core.errors import UserError


def check_shard_arguments(shard: int | None, nshards: int) -> None:
    """Refuse ``--nshards`` below 1 and a ``--shard`` outside ``0 .. nshards - 1`` (every script's
    parser calls it, :class:`sse.core.cli.Parser`)."""
    if nshards < 1:
        raise UserError(f"--nshards {nshards} must be at least 1")
    if shard is not None and not 0 <= shard < nshards:
        raise UserError(f"--shard {shard} is out of range: it must be between 0 and --nshards - 1 = {nshards - 1}")


def shard_bounds(count: int, shard: int, nshards: int) -> tuple[int, int]:
    """``(begin, end)`` of the block of ``count`` items that shard ``shard`` of ``nshards`` owns."""
    check_shard_arguments(shard, nshards)
    return shard * count // nshards, (shard + 1) * count // nshards


def shard_slice(count: int, shard: int, nshards: int) -> slice:
    """:func:`shard_bounds` as a slice."""
    return slice(*shard_bounds(count, shard, nshards))


def requested_shards(shard: int | None, nshards: int) -> list[int]:
    """The shards a run does: ``[shard]``, or all of them when no ``--shard`` is given."""
    check_shard_arguments(shard, nshards)
    return list(range(nshards)) if shard is None else [shard]


def piece_name(kind: str, shard: int, nshards: int) -> str:
    """The file name stem of shard ``shard`` of ``nshards`` of a sharded output:
    ``shard-00000-of-00004`` (feature store), ``embeddings-00001-of-00004`` (mining)..."""
    return f"{kind}-{shard:05d}-of-{nshards:05d}"
