"""How the sinks write what they receive: names that sort in arrival order, atomic writes.

A file is written under a hidden temporary name (``.<name>.part``), flushed to disk, then
renamed: a reader listing the folder (a developer, a test, a watcher) sees a message whole or
not at all, never half of it, and a crash leaves at most a hidden ``.part`` file.
"""

from __future__ import annotations

import os
import re
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

__all__ = ["LABEL_LENGTH", "TEMPORARY_SUFFIX", "ordered_name", "safe_label", "write_atomically"]

LABEL_LENGTH: Final = 64
"""Longest label kept in a file name (a Message-ID can be long)."""
TEMPORARY_SUFFIX: Final = ".part"
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._@+=-]+")


def safe_label(text: str | None, fallback: str) -> str:
    """``text`` made safe in a file name (``<a/b@c>`` → ``a_b@c``), or ``fallback`` if empty."""
    label = _UNSAFE.sub("_", (text or "").strip().strip("<>")).strip("._")[:LABEL_LENGTH]
    return label or fallback


def ordered_name(received_at: datetime, counter: int, label: str, suffix: str) -> str:
    """``<UTC timestamp>-<counter>-<label><suffix>``: sorting the names sorts the arrivals.

    The timestamp (``20250619T090000.123456Z``) orders across restarts, the counter (six
    digits, from 1 in each sink) orders messages received within the same microsecond.
    """
    stamp = received_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{stamp}-{counter:06d}-{label}{suffix}"


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (mode 0600: customers' addresses).

    Raises:
        OSError: The disk refused; the temporary file is removed and ``path`` never appears.
    """
    temporary = path.with_name(f".{path.name}{TEMPORARY_SUFFIX}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
    except BaseException:
        with suppress(FileNotFoundError):
            temporary.unlink()
        raise
