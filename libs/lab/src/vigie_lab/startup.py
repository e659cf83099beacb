"""What the lab prepares before it listens: its clock, the passwords, the seed and the keys."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from vigie_lab.credentials import read_password
from vigie_lab.devices import Device
from vigie_lab.errors import Problem, ScenarioInvalid
from vigie_lab.jump_host import JumpHost
from vigie_lab.keys import derive_key, load_seed
from vigie_lab.kinds import HostKeyChanged
from vigie_lab.scenario_file import LabScenarios

__all__ = ["Now", "clock_of", "prepare"]

Now = datetime | Callable[[], datetime] | None
"""The lab's clock: a fixed aware instant, a function returning one, or None (the system's)."""


def clock_of(now: Now) -> Callable[[], datetime]:
    """The clock a :data:`Now` stands for.

    Raises:
        ValueError: A fixed instant without a zone.
    """
    if now is None:
        return lambda: datetime.now(UTC)
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        return lambda: now
    return now


def _check_histories(devices: list[Device]) -> None:
    """Refuse pinned times that fall after the start (``-0d@23:00`` in the morning)."""
    found = []
    for device in devices:
        try:
            device.cuts()
        except ValueError as error:
            found.append(Problem(f"device {device.name}", "scenario", str(error)))
    if found:
        raise ScenarioInvalid("<scenarios>", found)


def prepare(
    scenarios: LabScenarios,
    data_dir: Path,
    started: datetime,
    clock: Callable[[], datetime],
    env: Mapping[str, str],
) -> tuple[list[Device], JumpHost | None]:
    """Read the passwords, make or read the seed, derive the keys: the devices, not started."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    seed = load_seed(data_dir)
    devices = []
    for spec in scenarios.devices:
        where = f"device {spec.name}"
        password = read_password(
            where, variable=spec.password_env, file=spec.password_file, env=env
        )
        known = derive_key(seed, f"device:{spec.name}")
        changed = isinstance(spec.scenario, HostKeyChanged)
        presented = derive_key(seed, f"device:{spec.name}:changed") if changed else known
        devices.append(Device(spec, started, clock, password, known, presented))
    _check_histories(devices)
    jump = None
    if (jump_spec := scenarios.jump_host) is not None:
        password = read_password(
            f"jump_host {jump_spec.name}",
            variable=jump_spec.password_env,
            file=jump_spec.password_file,
            env=env,
        )
        jump = JumpHost(jump_spec, password, derive_key(seed, f"jump:{jump_spec.name}"))
    return devices, jump
