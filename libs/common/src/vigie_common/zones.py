"""Time zones by IANA name, with one clear error for every name that is not a zone.

``ZoneInfo`` raises ``ZoneInfoNotFoundError`` for an unknown name, ``ValueError`` for a
malformed one, and ``IsADirectoryError`` (an ``OSError``) for a region such as ``Europe``:
callers that catch only the first two let a typo end in a traceback.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["UnknownZone", "load_zone"]


class UnknownZone(ValueError):
    """The name is not an IANA time zone the system knows."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown time zone {name!r} (an IANA name, e.g. Europe/Paris)")
        self.name = name


def load_zone(name: str) -> ZoneInfo:
    """The zone called ``name``.

    Raises:
        UnknownZone: not a zone (unknown, malformed, a region like ``Europe``, empty).
    """
    if not name or not name.strip():
        raise UnknownZone(name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UnknownZone(name) from None
