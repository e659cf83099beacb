"""How a handler tells the consume loop what to do with a message.

Tree::

    EventError
    ├── InvalidEvent     poison: sent to ``<topic>.dlq`` with the reason, then committed
    └── RetryableError   transient: not committed, retried after a backoff

Any other exception stops the consumer (Kubernetes restarts the pod): a bug must be seen,
not swallowed.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["EventError", "InvalidEvent", "RetryableError"]


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
