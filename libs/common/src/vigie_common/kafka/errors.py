"""How a handler tells the consume loop what to do with a message, and which failures are passing.

Tree::

    EventError
    ├── InvalidEvent     poison: sent to ``<topic>.dlq`` with the reason, then committed
    └── RetryableError   transient: not committed, retried after a backoff

Besides ``RetryableError``, the loop retries what :func:`is_transient` recognises: the database
refusing or losing connections, timeouts, serialisation failures. Any other exception stops
the consumer (Kubernetes restarts the pod): a bug must be seen, not swallowed, and retrying a
deterministic failure would only hide it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import (
    TimeoutError as PoolTimeout,
)

from vigie_common.kafka.failures import bounded

__all__ = ["EventError", "InvalidEvent", "RetryableError", "describe", "is_transient"]

TRANSIENT_SQLSTATES: Final = ("08", "40", "53", "57P", "57014")
"""SQLSTATE prefixes a retry can cure: connection exception, transaction rollback
(serialisation failure, deadlock), insufficient resources (too many connections), operator
intervention (admin or crash shutdown, cannot connect now) and a cancelled statement."""

DESCRIBE_LIMIT: Final = 300
"""Characters of an error's message kept in logs: the SQL and its parameters stay out."""


class EventError(Exception):
    """Base of the errors the consume loop understands."""

    retriable: ClassVar[bool] = False

    def __init__(self, reason: str, *, detail: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class InvalidEvent(EventError):
    """The message can never be processed (bad envelope, unknown type, invalid data)."""


class RetryableError(EventError):
    """The effect could not be stored now (database or downstream away); try again."""

    retriable = True


def is_transient(exc: BaseException) -> bool:
    """True when the same work may succeed later: the loop retries it without committing.

    Recognises ``RetryableError``; OS-level connection errors and timeouts (asyncpg raises a
    bare ``ConnectionRefusedError`` when it cannot connect); SQLAlchemy's operational,
    interface, disconnection and pool-timeout errors; and any ``DBAPIError`` that invalidated
    its connection or carries a transient SQLSTATE (asyncpg's server errors arrive as plain
    ``DBAPIError``). A data error (value too long, division by zero) is not transient.
    """
    for error in _chain(exc):
        if isinstance(error, EventError):
            return error.retriable
        if isinstance(
            error, OSError | OperationalError | InterfaceError | DisconnectionError | PoolTimeout
        ):
            return True
        if isinstance(error, DBAPIError):
            if error.connection_invalidated:
                return True
            state = getattr(error.orig, "sqlstate", None)
            return isinstance(state, str) and state.startswith(TRANSIENT_SQLSTATES)
    return False


def describe(exc: BaseException) -> str:
    """``Type: message`` of the driver's own error, bounded: enough to act on, never the SQL."""
    root: BaseException = exc
    if isinstance(exc, DBAPIError) and isinstance(exc.orig, BaseException):
        root = exc.orig
    text = " ".join(str(root).split())  # SQLAlchemy appends the statement on its own lines
    if isinstance(exc, DBAPIError):
        text = text.split("[SQL:", 1)[0].strip()
    text = bounded(text, DESCRIBE_LIMIT)
    return f"{type(root).__name__}: {text}" if text else type(root).__name__


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` then what it was raised ``from``, outermost first; bounded against cycles.

    Only explicit causes: an error raised while *handling* a connection error is not one.
    """
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(found) < 8 and current not in found:
        found.append(current)
        current = current.__cause__
    return found
