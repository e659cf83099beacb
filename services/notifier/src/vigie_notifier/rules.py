"""Rules: which fact (a verdict, a ticket version, a GTR warning, a chase) sends what to whom.

Pure: a rules file is read into :class:`Rules`, and :func:`decide` answers the rules a fact
fires, in file order. The packaged ``rules.yaml`` holds the SAV defaults; an operator's file
replaces it (``VIGIE_NOTIFIER_RULES_FILE``). A file naming an unknown kind, audience or
field is refused at start-up, naming the rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vigie_notifier.catalogue import normalise_code

__all__ = [
    "FIELDS",
    "Audience",
    "Chase",
    "Fact",
    "FactKind",
    "Rule",
    "Rules",
    "RulesInvalid",
    "decide",
    "load_rules",
]

Scalar = str | int | bool | None


class FactKind(StrEnum):
    """What happened."""

    VERDICT = "verdict"
    TICKET = "ticket"
    GTR_WARNING = "gtr_warning"
    CHASE = "chase"


class Audience(StrEnum):
    """Who receives: the customer's contacts, or a team of the configuration."""

    CUSTOMER = "customer"
    SUPPORT = "support"
    FIELD = "field"
    ESCALATION = "escalation"


FIELDS: Final[Mapping[FactKind, frozenset[str]]] = {
    FactKind.VERDICT: frozenset({"verdict", "purpose", "final", "ticket_state"}),
    FactKind.TICKET: frozenset({"state", "previous_state"}),
    FactKind.GTR_WARNING: frozenset({"threshold_percent"}),
    FactKind.CHASE: frozenset({"template"}),
}
"""The fields each kind of fact has, that a rule's ``when`` may test."""


class RulesInvalid(ValueError):
    """The rules file cannot be used; the message names the file and the rule."""


class Chase(BaseModel):
    """Chase an intervention still open ``after_minutes`` later, with another template."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    send: str
    after_minutes: float = Field(gt=0)

    @field_validator("send")
    @classmethod
    def _code(cls, value: str) -> str:
        return normalise_code(value)


class Rule(BaseModel):
    """One rule of the file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    event: FactKind
    when: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)
    send: str
    to: Audience
    chase: Chase | None = None

    @field_validator("send")
    @classmethod
    def _code(cls, value: str) -> str:
        return normalise_code(value)

    def matches(self, fact: Fact) -> bool:
        """Whether every ``when`` field of the rule holds for ``fact``."""
        if fact.kind is not self.event:
            return False
        for field, wanted in self.when.items():
            value = fact.fields.get(field)
            allowed = wanted if isinstance(wanted, list) else [wanted]
            if value not in allowed:
                return False
        return True


@dataclass(frozen=True, slots=True)
class Fact:
    """Something that happened to a ticket, with the fields rules test."""

    kind: FactKind
    fields: Mapping[str, Scalar]


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule]


@dataclass(frozen=True, slots=True)
class Rules:
    """The rules in force, in file order, and where they came from."""

    rules: tuple[Rule, ...]
    source: str

    def codes(self) -> set[str]:
        """Every template code the rules may send (checked against the catalogue)."""
        return {r.send for r in self.rules} | {r.chase.send for r in self.rules if r.chase}


def decide(rules: Rules, fact: Fact) -> list[Rule]:
    """The rules ``fact`` fires, in file order."""
    return [rule for rule in rules.rules if rule.matches(fact)]


def load_rules(path: Path | None = None) -> Rules:
    """The operator's rules file, or the packaged defaults.

    Raises:
        RulesInvalid: unreadable, not YAML, or a rule with an unknown kind, audience, field,
            or a duplicate name (every problem of the file in one message).
    """
    if path is None:
        source = "the packaged rules.yaml"
        text = resources.files("vigie_notifier").joinpath("rules.yaml").read_text("utf-8")
    else:
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RulesInvalid(f"rules file {path} cannot be read: {exc.strerror}") from None
    try:
        data: Any = yaml.safe_load(text)
        parsed = _File.model_validate(data)
    except yaml.YAMLError as exc:
        raise RulesInvalid(f"{source} is not YAML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise RulesInvalid(f"{source}: {problems}") from None
    _check(parsed.rules, source)
    return Rules(tuple(parsed.rules), source)


def _check(rules: Sequence[Rule], source: str) -> None:
    problems = []
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            problems.append(f"rule {rule.name!r}: the name is used twice")
        seen.add(rule.name)
        unknown = sorted(set(rule.when) - FIELDS[rule.event])
        if unknown:
            known = ", ".join(sorted(FIELDS[rule.event]))
            problems.append(
                f"rule {rule.name!r}: unknown field {unknown} for {rule.event} ({known})"
            )
    if problems:
        raise RulesInvalid(f"{source}: " + "; ".join(problems))
