"""Versioned topic names: a breaking change to a payload gets a new topic, never an edit."""

from __future__ import annotations

from typing import Final

TICKETS: Final = "vigie.tickets.v1"
OBSERVATIONS: Final = "vigie.observations.v1"
VERDICTS: Final = "vigie.verdicts.v1"
NOTIFICATIONS: Final = "vigie.notifications.v1"
GTR: Final = "vigie.gtr.v1"

ALL: Final = (TICKETS, OBSERVATIONS, VERDICTS, NOTIFICATIONS, GTR)

DEAD_LETTER_SUFFIX: Final = ".dlq"


def dead_letter(topic: str) -> str:
    """Return the dead-letter topic that poison messages of ``topic`` go to."""
    return f"{topic}{DEAD_LETTER_SUFFIX}"
