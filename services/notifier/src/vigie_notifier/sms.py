"""SMS segmentation: which alphabet a text needs and how it splits into concatenated parts.

An SMS carries 140 bytes: 160 GSM-7 septets or 70 UCS-2 code units; a concatenated message
loses 6 bytes per part to its header, hence 153 septets or 67 units. One character outside
the GSM-7 alphabet (``ê``, ``ç``, an emoji, a typographic apostrophe) switches the whole
message to UCS-2, which is why the SMS templates stick to the GSM-7 letters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "LIMITS",
    "Encoding",
    "SmsSplit",
    "encoding_of",
    "split",
    "units",
]

Encoding = Literal["GSM-7", "UCS-2"]

GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""3GPP TS 23.038 default alphabet, one septet each (ESC, 0x1B, is no character of a text)."""

GSM7_EXTENSION: Final = frozenset("\f^{}\\[~]|€")
"""The extension table: each is ESC + a septet, so it costs two and never straddles parts."""

LIMITS: Final[dict[Encoding, tuple[int, int]]] = {"GSM-7": (160, 153), "UCS-2": (70, 67)}
"""Per encoding: the units of a single message, and of each part of a concatenated one."""


@dataclass(frozen=True)
class SmsSplit:
    """A text cut into the parts a phone receives, with the encoding that forced the cut."""

    encoding: Encoding
    segments: tuple[str, ...]
    units: int
    """Septets (GSM-7) or UTF-16 code units (UCS-2) of the whole text."""

    @property
    def count(self) -> int:
        """How many messages the operator bills."""
        return len(self.segments)


def encoding_of(text: str) -> Encoding:
    """GSM-7 when every character is in the basic or extension table, else UCS-2."""
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        return "GSM-7"
    return "UCS-2"


def units(char: str, encoding: Encoding) -> int:
    """What one character costs: 2 for an extension character or a character outside the BMP."""
    if encoding == "GSM-7":
        return 2 if char in GSM7_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1  # a surrogate pair in UTF-16


def split(text: str) -> SmsSplit:
    """Cut ``text`` into SMS parts without splitting an escape sequence or a surrogate pair.

    An empty text is one (empty) message. Joining the segments gives back ``text``.
    """
    encoding = encoding_of(text)
    single, part = LIMITS[encoding]
    costs = [units(char, encoding) for char in text]
    total = sum(costs)
    if total <= single:
        return SmsSplit(encoding=encoding, segments=(text,), units=total)
    segments: list[str] = []
    start, used = 0, 0
    for index, cost in enumerate(costs):
        if used + cost > part:
            segments.append(text[start:index])
            start, used = index, 0
        used += cost
    segments.append(text[start:])
    return SmsSplit(encoding=encoding, segments=tuple(segments), units=total)
