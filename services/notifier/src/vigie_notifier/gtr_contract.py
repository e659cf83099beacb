"""GTR commitment strings read into a contract: class, budget, business-hours schedule.

Upstream tickets carry the commitment as free text (``GTR S2 240 mn Lundi au Samedi 8h à 18h``).
It is read strictly: case and accents do not matter, but a part that cannot be read raises
:class:`CommitmentUnreadable` naming it, because a guessed deadline is worse than none.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

__all__ = [
    "AROUND_THE_CLOCK",
    "BUSINESS_HOURS",
    "DAY_NAMES",
    "MINUTES_PER_DAY",
    "CommitmentUnreadable",
    "Contract",
    "Schedule",
    "parse_commitment",
]

MINUTES_PER_DAY: Final = 24 * 60
DAY_NAMES: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_FRENCH_DAYS: Final = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_DAY_WORD: Final = "|".join([*_FRENCH_DAYS, *(d[:3] for d in _FRENCH_DAYS)])
_TIME: Final = r"(\d{1,2})\s*(?:h\s*(\d{2})?|:(\d{2}))"
_END: Final = r"(?![\w/:])"  # a part ends where a word, a "24h/24" or an "8:30" does not go on

Part = Literal["class", "budget", "schedule", "text"]


class CommitmentUnreadable(ValueError):
    """A commitment string with a part that cannot be read; no deadline is computed from it.

    Attributes:
        commitment: the string as received.
        part: what could not be read (``class``, ``budget``, ``schedule`` or ``text``).
        reason: what was wrong, quoting the fragment.
    """

    def __init__(self, commitment: str, part: Part, reason: str) -> None:
        super().__init__(f"cannot read the {part} of commitment {commitment!r}: {reason}")
        self.commitment = commitment
        self.part: Part = part
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Schedule:
    """When the GTR clock runs: local week days and hours, and whether holidays stop it.

    ``days`` are 0 (Monday) to 6 (Sunday); ``opens`` and ``closes`` are minutes after local
    midnight, ``opens < closes <= 1440`` (no overnight hours: no guess about which day they
    belong to).
    """

    days: tuple[int, ...]
    opens: int
    closes: int
    skips_public_holidays: bool = True

    def __post_init__(self) -> None:
        """Refuse a schedule the clock could walk forever without finding an open minute.

        Raises:
            ValueError: no day, a day outside 0-6, or hours not within one day.
        """
        if not self.days or not set(self.days) <= set(range(7)):
            raise ValueError(f"schedule days must be some of 0-6, got {self.days}")
        if not 0 <= self.opens < self.closes <= MINUTES_PER_DAY:
            raise ValueError(f"schedule hours must be 0 <= opens < closes <= 1440, got {self}")

    @property
    def around_the_clock(self) -> bool:
        """Every real minute counts (``24/7``): holidays included, DST days 23 h or 25 h."""
        return (
            len(self.days) == len(DAY_NAMES)
            and self.opens == 0
            and self.closes == MINUTES_PER_DAY
            and not self.skips_public_holidays
        )


AROUND_THE_CLOCK: Final = Schedule(tuple(range(7)), 0, MINUTES_PER_DAY, skips_public_holidays=False)
BUSINESS_HOURS: Final = Schedule((0, 1, 2, 3, 4), 8 * 60, 18 * 60)  # "HO"


@dataclass(frozen=True, slots=True)
class Contract:
    """A commitment read: service class (``S2``, or None when absent), budget, schedule."""

    service_class: str | None
    budget_minutes: int
    schedule: Schedule

    def __post_init__(self) -> None:
        """Refuse a budget that is not a positive number of minutes.

        Raises:
            ValueError: the budget is zero or negative.
        """
        if self.budget_minutes <= 0:
            raise ValueError(f"the budget must be positive, got {self.budget_minutes} minutes")


_GTR = re.compile(r"gtr" + _END)
_CLASS = re.compile(r"s\s?(\d{1,2})" + _END)
_MINUTES = re.compile(r"(\d{1,6})\s*(?:mn|mns|min|mins|minutes?)" + _END)
_HOURS = re.compile(r"(\d{1,4})\s*(?:h|heures?)(?:(\d{2})(?:mn|min)?)?" + _END)
_ALL_HOURS = re.compile(
    r"(?:hno|24\s*/\s*7|24\s*h\s*/\s*24\s*h?\s*,?\s*7\s*j\s*/\s*7\s*j?"
    r"|7\s*j\s*/\s*7\s*j?\s*,?\s*24\s*h\s*/\s*24\s*h?)" + _END
)
_HO = re.compile(r"ho" + _END)
_WEEK = re.compile(
    rf"(?:du\s+)?({_DAY_WORD})\.?\s*(?:au|a|-)\s*({_DAY_WORD})\.?\s*,?\s*"
    rf"(?:de\s+)?{_TIME}\s*(?:a|-)\s*{_TIME}" + _END
)
_DAY_START = re.compile(rf"(?:du\s+)?({_DAY_WORD})\.?{_END}")
_DAYS_THEN = re.compile(rf"(?:du\s+)?({_DAY_WORD})\.?\s*(?:au|a|-)\s*([^\s,]+)\s*,?\s*")
_DAY_ONLY = re.compile(rf"(?:{_DAY_WORD})\.?")
_HOURS_ONLY = re.compile(rf"(?:de\s+)?{_TIME}\s*(?:a|-)\s*{_TIME}{_END}.*", re.DOTALL)


def _fold(text: str) -> str:
    """Lower case without accents, one character for one, so positions match ``text`` (NFC)."""
    return "".join(_fold_char(char) for char in text)


def _fold_char(char: str) -> str:
    if unicodedata.combining(char):
        return " "  # a mark NFC could not compose onto its letter
    return (unicodedata.normalize("NFKD", char)[:1] or char).lower()[:1]


def _day(word: str) -> int:
    return next(i for i, name in enumerate(_FRENCH_DAYS) if name.startswith(word))


def _minute_of_day(hour: str, minute: str | None, *, commitment: str, fragment: str) -> int:
    h, m = int(hour), int(minute or 0)
    if m >= 60 or h > 24 or (h == 24 and m):
        raise CommitmentUnreadable(
            commitment, "schedule", f"{fragment!r} holds a time that is not a time of day"
        )
    return h * 60 + m


def _week(match: re.Match[str], commitment: str, fragment: str) -> Schedule:
    first, last = _day(match[1]), _day(match[2])
    days = tuple(sorted((first + i) % 7 for i in range((last - first) % 7 + 1)))
    opens = _minute_of_day(match[3], match[4] or match[5], commitment=commitment, fragment=fragment)
    closes = _minute_of_day(
        match[6], match[7] or match[8], commitment=commitment, fragment=fragment
    )
    if opens >= closes:
        raise CommitmentUnreadable(
            commitment, "schedule", f"{fragment!r} does not open before it closes"
        )
    return Schedule(days, opens, closes)


def _schedule_at(folded: str, pos: int, commitment: str) -> tuple[Schedule, int] | None:
    if match := _ALL_HOURS.match(folded, pos):
        return AROUND_THE_CLOCK, match.end()
    if match := _HO.match(folded, pos):
        return BUSINESS_HOURS, match.end()
    if match := _WEEK.match(folded, pos):
        return _week(match, commitment, commitment[pos : match.end()]), match.end()
    if _DAY_START.match(folded, pos):
        raise CommitmentUnreadable(commitment, "schedule", _schedule_fault(commitment, folded, pos))
    return None


def _schedule_fault(commitment: str, folded: str, pos: int) -> str:
    """Which piece of a schedule that starts with a day is wrong, quoted from the original."""
    if (days := _DAYS_THEN.match(folded, pos)) and not _DAY_ONLY.fullmatch(days[2]):
        return f"{commitment[days.start(2) : days.end(2)]!r} is not a day of the week"
    if days and not _HOURS_ONLY.fullmatch(folded, days.end()):
        if not (hours := commitment[days.end() :].strip()):
            return "the days have no hours after them (e.g. '8h à 18h')"
        return f"{hours!r} are not hours like '8h à 18h' or '8h30 à 17h30'"
    rest = commitment[pos:].strip()
    return (
        f"{rest!r} is not '<day> au <day> <hh>h[mm] à <hh>h[mm]' (e.g. 'Lundi au Samedi 8h à 18h')"
    )


def _budget_at(folded: str, pos: int, commitment: str) -> tuple[int, int] | None:
    if match := _MINUTES.match(folded, pos):
        minutes = int(match[1])
    elif match := _HOURS.match(folded, pos):
        extra = int(match[2] or 0)
        if extra >= 60:
            raise CommitmentUnreadable(
                commitment, "budget", f"{commitment[pos : match.end()]!r} has {extra} minutes"
            )
        minutes = int(match[1]) * 60 + extra
    else:
        return None
    if minutes <= 0:
        raise CommitmentUnreadable(
            commitment, "budget", f"{commitment[pos : match.end()]!r} is not a positive duration"
        )
    return minutes, match.end()


def _unread(commitment: str, folded: str, pos: int) -> CommitmentUnreadable:
    end = pos
    while end < len(folded) and not folded[end].isspace():
        end += 1
    word = commitment[pos:end]
    if _CLASS.fullmatch(folded, pos, end):
        return CommitmentUnreadable(
            commitment, "class", f"{word!r} is not right after 'GTR' or repeats the class"
        )
    if word[:1].isdigit():
        return CommitmentUnreadable(
            commitment, "budget", f"{word!r} is not a duration (e.g. '240 mn', '4h', '8 h')"
        )
    return CommitmentUnreadable(
        commitment,
        "text",
        f"{commitment[pos:].strip()!r} is neither a budget ('240 mn', '4h') nor a schedule "
        "('Lundi au Samedi 8h à 18h', '24/7', 'HO', 'HNO')",
    )


@lru_cache(maxsize=4096)
def parse_commitment(commitment: str) -> Contract:
    """Read ``GTR S2 240 mn Lundi au Samedi 8h à 18h`` (and its variants) into a contract.

    The class is optional; the budget and the schedule are required, once each, in any order.
    ``HO`` is Monday to Friday 8h-18h without public holidays, ``HNO`` is ``24/7``. Cached:
    the same strings come back with every ticket.

    Raises:
        CommitmentUnreadable: a part is missing, repeated or cannot be read.
    """
    composed = unicodedata.normalize("NFC", commitment)  # "a" + U+0300 -> "à": one char each
    try:
        return _read(composed, _fold(composed))
    except CommitmentUnreadable as exc:
        if composed == commitment:
            raise
        raise CommitmentUnreadable(commitment, exc.part, exc.reason) from None


def _read(commitment: str, folded: str) -> Contract:
    if not folded.strip():
        raise CommitmentUnreadable(commitment, "text", "it is empty")
    pos = _skip(folded, 0)
    if match := _GTR.match(folded, pos):
        pos = _skip(folded, match.end())
    service_class = None
    if match := _CLASS.match(folded, pos):
        service_class, pos = f"S{int(match[1])}", _skip(folded, match.end())
    budget: int | None = None
    schedule: Schedule | None = None
    while pos < len(folded):
        if (found := _schedule_at(folded, pos, commitment)) is not None:
            if schedule is not None:
                raise CommitmentUnreadable(commitment, "schedule", "it gives two schedules")
            schedule, pos = found
        elif (read := _budget_at(folded, pos, commitment)) is not None:
            if budget is not None:
                raise CommitmentUnreadable(commitment, "budget", "it gives two budgets")
            budget, pos = read
        else:
            raise _unread(commitment, folded, pos)
        pos = _skip(folded, pos)
    if budget is None:
        raise CommitmentUnreadable(commitment, "budget", "there is none (e.g. '240 mn', '4h')")
    if schedule is None:
        raise CommitmentUnreadable(
            commitment, "schedule", "there is none (e.g. 'Lundi au Samedi 8h à 18h', '24/7')"
        )
    return Contract(service_class, budget, schedule)


def _skip(folded: str, pos: int) -> int:
    """Past spaces and the separators people put between parts (``,`` ``;`` ``-`` ``/``)."""
    while pos < len(folded) and (folded[pos].isspace() or folded[pos] in ",;-/|"):
        pos += 1
    return pos
