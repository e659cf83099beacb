"""Which publish failures are for good: the relay sets such a row aside instead of retrying it.

A broker that is away, slow or electing a leader fails *transiently*: the row waits and is
tried again. A record the broker will never take (too large, a topic name it refuses, no
permission) fails *permanently*: retrying it forever would block every later row.
"""

from __future__ import annotations

from typing import Final

from aiokafka import errors as kafka_errors

__all__ = ["PERMANENT", "RecordRefused", "is_permanent"]


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
