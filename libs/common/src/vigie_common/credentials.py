"""Per-source credentials in one variable: ``source=secret[|secret2];source2=…``.

Several secrets for one source are active together, so a secret can be rotated without a
moment where the sender and vigie disagree. :data:`Credentials` is the settings field type:
it reads the raw variable (no JSON decoding) and keeps each secret as a ``SecretStr``.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import BeforeValidator, SecretStr
from pydantic_settings import NoDecode

__all__ = ["FORMAT", "Credentials", "CredentialsMalformed", "parse_credentials"]

FORMAT: Final = "source=secret[|secret2];source2=…"
"""How the variable is written, quoted in every error."""


class CredentialsMalformed(ValueError):
    """The value does not follow :data:`FORMAT`; never quotes what it read (it may be a secret).

    Attributes:
        problem: What is wrong, for the person setting the variable.
        source: The source whose entry is wrong, ``None`` when the entry has no name.
    """

    def __init__(self, problem: str, *, source: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.source = source


def parse_credentials(text: str) -> dict[str, tuple[str, ...]]:
    """Parse ``source=secret[|secret2];source2=…``; blanks and empty entries are ignored.

    Args:
        text: The variable's value. A secret may hold ``=`` but not ``;`` or ``|``.

    Returns:
        Each source's secrets, in the order written (a later entry of a source replaces an
        earlier one).

    Raises:
        CredentialsMalformed: When an entry has no ``source=`` or a source no secret.
    """
    parsed: dict[str, tuple[str, ...]] = {}
    for entry in filter(None, (part.strip() for part in text.split(";"))):
        name, sep, secrets = entry.partition("=")
        source = name.strip()
        if not sep or not source:
            raise CredentialsMalformed(f"expected {FORMAT} (an entry has no '=')")
        values = tuple(s.strip() for s in secrets.split("|") if s.strip())
        if not values:
            raise CredentialsMalformed(f"no secret given for source {source!r}", source=source)
        parsed[source] = values
    return parsed


def _parse_text(value: Any) -> Any:
    """Parse a raw variable; leave anything already structured to the field's own checks."""
    return parse_credentials(value) if isinstance(value, str) else value


Credentials = Annotated[dict[str, tuple[SecretStr, ...]], NoDecode, BeforeValidator(_parse_text)]
"""A settings field holding per-source secrets, read from ``source=secret[|secret2];…``."""
