"""Structured JSON logs (structlog) with secrets redacted before anything is written."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, MutableMapping
from typing import Any, Final

import structlog

_SECRET_KEY = re.compile(r"secret|token|password|passwd|authorization|signature|api_key", re.I)
_HINT = re.compile(r"secret|token|passw|api_?key|Bearer|://", re.I)
"""Cheap test first: most strings hold none of these, and skip the patterns below."""
# The user may be empty (``redis://:pw@host``). The lookbehind anchors a match at a word start
# and the bounded repeats keep a long string from costing quadratic time.
_URL_PASSWORD = re.compile(
    r"(?<![a-z0-9+.-])(?P<scheme>[a-z][a-z0-9+.-]{0,30}://[^:/@\s]{0,128}):[^@\s]{1,256}@", re.I
)
# ``?password=…``, ``&token=…``, ``sasl_password=…``, ``'client_secret': '…'``, ``X_TOKEN=…``:
# a secret-looking name, ``=`` or ``:`` (quotes and spaces around it), then the value up to
# a separator. Not ``signature`` (``t=…,v1=…`` is no secret and ``,`` would cut it short).
_KEY_VALUE = re.compile(
    r"(?<![\w.-])(?P<key>[\w.-]{0,40}?(?:secret|token|password|passwd|api_?key)[\w.-]{0,40}?)"
    r"(?P<sep>[\"']?\s*[=:]\s*[\"']?)(?P<value>[^\s&\"',;}\]]+)",
    re.I,
)
# ``Bearer`` as HTTP clients write it; the lowercase word in a sentence is left alone.
_BEARER = re.compile(r"\b(?P<scheme>Bearer\s+)[^\s\"',;}\]]+")
REDACTED = "***"


def _redact_text(text: str) -> str:
    if not _HINT.search(text):
        return text
    text = _URL_PASSWORD.sub(r"\g<scheme>:" + REDACTED + "@", text)
    text = _KEY_VALUE.sub(r"\g<key>\g<sep>" + REDACTED, text)
    return _BEARER.sub(r"\g<scheme>" + REDACTED, text)


def redact(value: Any, key: str = "") -> Any:
    """Hide secret-looking keys, and secrets written inside strings, recursively.

    Inside strings: passwords in URLs (also with an empty user), ``name=value`` and
    ``'name': 'value'`` pairs whose name looks secret (query strings, reprs, JSON text,
    environment assignments), and bearer tokens.
    """
    if key and _SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _redact_processor(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    return {k: redact(v, k) for k, v in event_dict.items()}


def configure_logging(*, service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and stdlib logging to stderr as one JSON object per line."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _redact_processor,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    structlog.contextvars.bind_contextvars(service=service)
    quiet = max(logging.getLevelName(level), logging.WARNING)
    for chatty in NOISY_LIBRARIES:  # at DEBUG they log every fetch, every SQL and its values
        logging.getLogger(chatty).setLevel(quiet)


NOISY_LIBRARIES: Final = ("aiokafka", "aiosqlite", "asyncssh")
"""Libraries kept at WARNING even when vigie logs at DEBUG: they log per packet or statement
(aiosqlite every SQL statement with its parameters, ticket data included)."""


def get_logger(name: str) -> Any:
    """Return a structlog logger; log with key/values, never f-strings."""
    return structlog.stdlib.get_logger(name)


class Throttle:
    """Decides when a repeated message is logged: the first time, then once per ``interval``.

    An outage repeats the same failure on every commit or poll; logging each one fills the
    disk. ``allow(key)`` says whether to log now, and how many were held back since the last
    time, so the line can say ``suppressed=<n>``.
    """

    def __init__(self, interval: float = 60.0, *, now: Callable[[], float] = time.monotonic):
        self.interval = interval
        self._now = now
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def allow(self, key: str) -> int | None:
        """``None`` to stay quiet; else the count of ``key`` messages held back until now."""
        now = self._now()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._held.pop(key, 0)

    def reset(self, key: str) -> None:
        """The condition cleared: its next occurrence is logged at once."""
        self._last.pop(key, None)
        self._held.pop(key, None)
