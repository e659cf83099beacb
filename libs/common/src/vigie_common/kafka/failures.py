"""Which publish failures are for good: the relay sets such a row aside instead of retrying it.

A broker that is away, slow or electing a leader fails *transiently*: the row waits and is
tried again. A record the broker will never take (too large, a topic name it refuses, no
permission) fails *permanently*: retrying it forever would block every later row.
"""

from __future__ import annotations

from typing import Final

from aiokafka import errors as kafka_errors

__all__ = ["MAX_DESCRIPTION", "PERMANENT", "RecordRefused", "bounded", "describe", "is_permanent"]

MAX_DESCRIPTION: Final = 300
"""Longest description of a failure: what the producer holds, returns and logs."""


class RecordRefused(Exception):
    """A record refused before it was sent (e.g. over the producer's ``max_request_size``)."""


PERMANENT: Final[tuple[type[BaseException], ...]] = (
    RecordRefused,
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordTooLargeError,
    kafka_errors.RecordListTooLargeError,
    kafka_errors.InvalidTopicError,
    kafka_errors.TopicAuthorizationFailedError,
    kafka_errors.UnsupportedForMessageFormatError,
    kafka_errors.CorruptRecordException,
)
"""Errors no retry can cure for the same record."""


def is_permanent(error: BaseException) -> bool:
    """True when publishing the same record again can never succeed."""
    return isinstance(error, PERMANENT)


def describe(error: BaseException, *, prefix: str = "", limit: int = MAX_DESCRIPTION) -> str:
    """One line, at most ``limit`` characters: ``[prefix: ]Type: message``.

    Only this error's own text, never a repr that quotes the previous one: a failure that
    repeats for hours keeps the same size (an outage once doubled a log line on every send).
    """
    name, text = type(error).__name__, str(error)
    # aiokafka's text already starts with its type name: "KafkaConnectionError: Unable to …".
    cause = text if text.startswith(name) else f"{name}: {text}" if text else name
    return bounded(f"{prefix}: {cause}" if prefix else cause, limit)


def bounded(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """``text`` on one line (whitespace runs made one space), cut to ``limit`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
