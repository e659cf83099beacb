"""Outputs of the misbehaving routers: garbage no parser recognises, and huge logs in chunks."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Final

__all__ = ["CHUNK", "garbage", "huge"]

CHUNK: Final = 64 * 1024
_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ#@!?*+=~^{}[]()/\\,;'\" "
_BINARY: Final = (b"\xff\xfe", b"\xc3\x28", b"\x1b[5m", b"\x00", b"\xa0\xa1", b"\x07")


def garbage(seed: str, lines: int = 40) -> bytes:
    """Deterministic junk that no parser recognises.

    No line starts with a digit, none holds ``%`` or a ``:`` stamp, and a few hold bytes that
    are not UTF-8 (a confused device's console).
    """
    rng = random.Random(seed)  # noqa: S311 - repeatable junk, not secrets
    out: list[bytes] = []
    for number in range(lines):
        text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(8, 70))).strip() or "?"
        line = text.encode("ascii")
        if number % 7 == 3:
            line += rng.choice(_BINARY) + line[:5]
        out.append(line.lstrip(b"0123456789 ") + b"\n")
    return b"".join(out)


def huge(first: bytes, filler: bytes, total: int) -> Iterator[bytes]:
    """Exactly ``total`` bytes: ``first``, then ``filler`` again and again.

    Chunks of at most 64 KiB are made as they are consumed, so memory stays bounded whatever
    ``total``.
    """
    if not filler:
        raise ValueError("filler must not be empty")
    left = total
    for block in _blocks(first, filler):
        for start in range(0, len(block), CHUNK):
            piece = block[start : start + CHUNK][:left]
            left -= len(piece)
            yield piece
            if left <= 0:
                return


def _blocks(first: bytes, filler: bytes) -> Iterator[bytes]:
    if first:
        yield first
    while True:
        yield filler
