"""The scenario kinds: how a device behaves and what history its log tells.

Times are relative to the lab's start (``-3d@16:10:44``, ``-90m``) and durations are written
``90s``, ``10m``, ``1h30m`` (see :mod:`vigie_lab.times`). A cut is the link going down then up:
its length is ``down_for`` (at least 10 s).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    field_validator,
    model_validator,
)

from vigie_lab.times import RelativeTime, parse_duration, parse_relative

__all__ = [
    "KINDS",
    "MIN_CUT",
    "AlarmsWhileObserved",
    "FlappedThenStable",
    "Flapping",
    "Garbage",
    "HangsAfterLogin",
    "HostKeyChanged",
    "HugeOutput",
    "NoSsh",
    "Scenario",
    "SlowDrip",
    "Stable",
    "WrongPassword",
]

KINDS: Final = (
    "stable",
    "flapping",
    "flapped_then_stable",
    "alarms_while_observed",
    "no_ssh",
    "wrong_password",
    "host_key_changed",
    "hangs_after_login",
    "garbage",
    "huge_output",
    "slow_drip",
)
MIN_CUT: Final = timedelta(seconds=10)
"""A cut is a LOC (link down) raise, an RDI raise 1 s later, the LOC clear 7 s before its end
and the RDI clear at its end: shorter than this, its records would overlap."""

Duration = Annotated[
    timedelta,
    BeforeValidator(
        lambda value: parse_duration(value) if not isinstance(value, timedelta) else value
    ),
    PlainSerializer(lambda value: f"{int(value.total_seconds())}s", return_type=str),
]
Relative = Annotated[
    RelativeTime,
    PlainValidator(
        lambda value: value if isinstance(value, RelativeTime) else parse_relative(value)
    ),
    PlainSerializer(str, return_type=str),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class _History(_Model):
    """Behaviours that still have a log behind them: one cut, ended ``since``."""

    since: Relative = parse_relative("-1d")
    down_for: Duration = timedelta(seconds=121)

    @field_validator("down_for")
    @classmethod
    def _long_enough(cls, value: timedelta) -> timedelta:
        if value < MIN_CUT:
            raise ValueError(f"a cut lasts at least {int(MIN_CUT.total_seconds())}s")
        return value


class Stable(_History):
    """Stable since ``since`` (the last clear of the one cut in the log)."""

    kind: Literal["stable"]
    since: Relative


class Flapping(_Model):
    """``cycles`` cuts every ``spacing``, the last ended ``last``; more if ``continues``."""

    kind: Literal["flapping"]
    cycles: int = Field(ge=2, le=10_000)
    spacing: Duration
    last: Relative = parse_relative("-2m")
    down_for: Duration = timedelta(seconds=30)
    continues: bool = True

    @model_validator(mode="after")
    def _fits(self) -> Flapping:
        _check_cuts(self.down_for, self.spacing, "spacing")
        return self


class FlappedThenStable(_Model):
    """``cycles`` cuts every ``spacing``, the last one ended ``stable_since``, then quiet."""

    kind: Literal["flapped_then_stable"]
    cycles: int = Field(ge=1, le=10_000)
    spacing: Duration
    stable_since: Relative
    down_for: Duration = timedelta(seconds=30)

    @model_validator(mode="after")
    def _fits(self) -> FlappedThenStable:
        _check_cuts(self.down_for, self.spacing, "spacing")
        return self


class AlarmsWhileObserved(_Model):
    """Stable since ``stable_since``, then cuts while observed.

    The first cut starts ``first_after`` the lab's start, the next ones ``every`` after it
    (``count`` of them, or for ever).
    """

    kind: Literal["alarms_while_observed"]
    stable_since: Relative = parse_relative("-1d")
    first_after: Duration = timedelta(minutes=1)
    every: Duration = timedelta(minutes=5)
    down_for: Duration = timedelta(seconds=30)
    count: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _fits(self) -> AlarmsWhileObserved:
        _check_cuts(self.down_for, self.every, "every")
        return self


class NoSsh(_Model):
    """Nothing listens (connections are refused); the jump host's ping fails unless told."""

    kind: Literal["no_ssh"]
    answers_ping: bool = False


class WrongPassword(_History):
    """Refuses every login, whatever the password."""

    kind: Literal["wrong_password"]


class HostKeyChanged(_History):
    """Presents another host key than the one the lab writes to known_hosts."""

    kind: Literal["host_key_changed"]


class HangsAfterLogin(_History):
    """Accepts the login, then never prints a prompt nor answers a command."""

    kind: Literal["hangs_after_login"]


class Garbage(_History):
    """Answers the log command with output no parser recognises (with bytes that are not UTF-8)."""

    kind: Literal["garbage"]


class HugeOutput(_History):
    """Answers the log command with ``bytes`` of log (50 MB by default), streamed."""

    kind: Literal["huge_output"]
    bytes: int = Field(default=50_000_000, ge=1, le=2**31)


class SlowDrip(_History):
    """Answers the log command a few bytes at a time (``bytes_per_second``)."""

    kind: Literal["slow_drip"]
    bytes_per_second: float = Field(default=200.0, gt=0, le=1_000_000)


Scenario = Annotated[
    Stable
    | Flapping
    | FlappedThenStable
    | AlarmsWhileObserved
    | NoSsh
    | WrongPassword
    | HostKeyChanged
    | HangsAfterLogin
    | Garbage
    | HugeOutput
    | SlowDrip,
    Field(discriminator="kind"),
]


def _check_cuts(down_for: timedelta, spacing: timedelta, name: str) -> None:
    if down_for < MIN_CUT:
        raise ValueError(f"down_for: a cut lasts at least {int(MIN_CUT.total_seconds())}s")
    if spacing <= down_for:
        raise ValueError(f"{name} must be longer than down_for (cuts would overlap)")
