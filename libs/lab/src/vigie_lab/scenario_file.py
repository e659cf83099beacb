"""Scenario files: the devices the lab plays, their credentials' sources and their histories.

A file is YAML (see ``vigie_lab/scenarios/catalogue.yaml`` for every kind)::

    jump_host: {name: rebond, address: 127.0.10.254, port: 2222,
                username: tech, password_env: VIGIE_LAB_JUMP_PASSWORD}
    devices:
      - name: RTE-INL_MOIRA_EVPN_LA1-CD0HG0FDC
        driver: rad_etx                      # or cisco_ios
        address: 127.0.10.1                  # loopback only
        port: 2222                           # 0: any free port
        username: vigie
        password_env: VIGIE_LAB_ROUTER_PASSWORD   # or password_file (relative to the file)
        timezone: Europe/Paris
        scenario: {kind: stable, since: "-3d@16:10:44"}

Passwords never appear in the file. Every error names the device and the field.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vigie_lab.errors import Problem, ScenarioInvalid
from vigie_lab.kinds import KINDS, Scenario

__all__ = [
    "DRIVERS",
    "DeviceSpec",
    "JumpHostSpec",
    "LabScenarios",
    "load_scenarios",
    "parse_scenarios",
    "problems",
]

DRIVERS: Final = ("rad_etx", "cisco_ios")
_NAME: Final = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _shorthand(value: object) -> object:
    """``scenario: no_ssh`` is ``scenario: {kind: no_ssh}``."""
    return {"kind": value} if isinstance(value, str) else value


class _Endpoint(_Model):
    """Where something listens, and whose password it checks."""

    address: str
    port: int = Field(default=0, ge=0, le=65535)
    username: str = Field(min_length=1, max_length=64, pattern=r"^[!-~]+$")
    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    password_file: Path | None = None
    password: None = Field(default=None, exclude=True)

    @field_validator("password", mode="before")
    @classmethod
    def _no_password(cls, value: object) -> None:
        if value is not None:
            raise ValueError(
                "passwords never go in the scenario file: name a variable (password_env) "
                "or a file (password_file)"
            )
        return None

    @field_validator("address", mode="before")
    @classmethod
    def _loopback(cls, value: object) -> str:
        try:
            address = ipaddress.ip_address(str(value))
        except ValueError:
            raise ValueError(f"not an IP address: {value!r}") from None
        if not address.is_loopback:
            raise ValueError(f"{address} is not a loopback address (the lab listens on 127/8 only)")
        return str(address)

    @field_validator("password_file")
    @classmethod
    def _relative_to_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        base = (info.context or {}).get("base_dir")
        if value is not None and not value.is_absolute() and base is not None:
            return Path(base) / value
        return value

    @model_validator(mode="after")
    def _one_password_source(self) -> _Endpoint:
        if (self.password_env is None) == (self.password_file is None):
            raise ValueError("give exactly one of password_env or password_file")
        return self


class JumpHostSpec(_Endpoint):
    """The jump host (``rebond``): forwards only to the fleet, answers ``ping -c N <ip>``.

    ``credentials`` is the profile name the inventory gives for its login.
    """

    name: str = Field(default="rebond", pattern=_NAME)
    credentials: str = Field(default="lab-rebond", pattern=_NAME)


class DeviceSpec(_Endpoint):
    """One simulated router.

    ``site`` and ``service_reference`` (default: the device's name) and ``credentials`` (the
    login's profile name) only go to the inventory the lab writes; the device ignores them.
    """

    name: str = Field(pattern=_NAME)
    driver: Literal["rad_etx", "cisco_ios"]
    timezone: str = "Europe/Paris"
    site: str | None = Field(default=None, min_length=1, max_length=100)
    service_reference: str | None = Field(default=None, min_length=1, max_length=100)
    credentials: str = Field(default="lab-router", pattern=_NAME)
    scenario: Annotated[Scenario, BeforeValidator(_shorthand)]

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a region (Europe)
            raise ValueError(f"unknown time zone {value!r} (an IANA name: Europe/Paris)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The device's zone: its log's local time."""
        return ZoneInfo(self.timezone)


class LabScenarios(_Model):
    """A whole lab: an optional jump host and the devices."""

    jump_host: JumpHostSpec | None = None
    devices: list[DeviceSpec] = Field(default_factory=list)

    def with_any_ports(self) -> LabScenarios:
        """The same lab on ports the system picks: for tests that run beside another lab."""
        jump = self.jump_host.model_copy(update={"port": 0}) if self.jump_host else None
        devices = [device.model_copy(update={"port": 0}) for device in self.devices]
        return self.model_copy(update={"jump_host": jump, "devices": devices})


def problems(scenarios: LabScenarios) -> list[Problem]:
    """What makes a valid-per-entry lab unplayable: duplicate names or listening places."""
    found: list[Problem] = []
    names = Counter(device.name for device in scenarios.devices)
    found += [Problem(f"device {n}", "name", "used twice") for n, c in names.items() if c > 1]
    places: dict[tuple[str, int], str] = {}
    endpoints: list[tuple[str, _Endpoint]] = [(f"device {d.name}", d) for d in scenarios.devices]
    if scenarios.jump_host is not None:
        endpoints.insert(0, (f"jump_host {scenarios.jump_host.name}", scenarios.jump_host))
    for where, endpoint in endpoints:
        if endpoint.port == 0:
            continue
        place = (endpoint.address, endpoint.port)
        if place in places:
            message = f"{endpoint.address}:{endpoint.port} is also {places[place]}'s"
            found.append(Problem(where, "port", message))
        places.setdefault(place, where)
    return found


def parse_scenarios(
    data: object, *, source: str = "<scenarios>", base_dir: Path | None = None
) -> LabScenarios:
    """Validate already-loaded YAML data.

    Raises:
        ScenarioInvalid: Listing every problem, each naming the device and the field.
    """
    if not isinstance(data, Mapping):
        raise ScenarioInvalid(source, [Problem("file", "", "expected a mapping with devices")])
    try:
        scenarios = LabScenarios.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as error:
        raise ScenarioInvalid(source, [_problem(e, data) for e in error.errors()]) from None
    found = problems(scenarios)
    if found:
        raise ScenarioInvalid(source, found)
    return scenarios


def load_scenarios(path: Path) -> LabScenarios:
    """Read and validate a scenario file; ``password_file`` paths are relative to it.

    Raises:
        ScenarioInvalid: The file cannot be read, is not YAML, or has problems (all listed).
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ScenarioInvalid(
            str(path), [Problem("file", "", error.strerror or str(error))]
        ) from None
    except yaml.YAMLError as error:
        raise ScenarioInvalid(str(path), [Problem("file", "", f"not YAML: {error}")]) from None
    return parse_scenarios(data, source=str(path), base_dir=path.parent)


def _problem(error: Any, data: Mapping[str, Any]) -> Problem:
    """One pydantic error as a problem naming the device (by name when it has one)."""
    loc = list(error["loc"])
    where = "file"
    if loc and loc[0] == "devices" and len(loc) > 1 and isinstance(loc[1], int):
        where = f"devices[{loc[1]}]"
        devices = data.get("devices")
        if isinstance(devices, list) and loc[1] < len(devices):
            entry = devices[loc[1]]
            if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
                where = f"device {entry['name']}"
        loc = loc[2:]
    elif loc and loc[0] == "jump_host":
        where, loc = "jump_host", loc[1:]
    if len(loc) >= 2 and loc[0] == "scenario" and loc[1] in KINDS:
        del loc[1]  # the union's tag, already the scenario's kind
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field"
    return Problem(where, ".".join(str(part) for part in loc), message)
