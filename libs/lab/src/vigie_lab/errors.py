"""The lab's errors: each names the device (or file) and the field it is about.

Tree::

    LabError
    ├── ScenarioInvalid       a scenario file that cannot be played (every problem listed)
    ├── CredentialsMissing    a device's password variable or file is not there
    └── ListenFailed          an address and port the lab could not listen on
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = ["CredentialsMissing", "LabError", "ListenFailed", "Problem", "ScenarioInvalid"]


class LabError(Exception):
    """Base of every error the lab raises on purpose."""

    retriable: ClassVar[bool] = False


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a scenario file.

    Attributes:
        where: The device (``device RTE-…``, ``devices[3]`` when it has no name yet), the
            ``jump_host`` or ``file``.
        field: The dotted path of the field inside it (``scenario.since``), empty for the
            whole entry.
        message: What is wrong, for a person editing the file.
    """

    where: str
    field: str
    message: str

    def __str__(self) -> str:
        location = f"{self.where}: {self.field}" if self.field else self.where
        return f"{location}: {self.message}"


class ScenarioInvalid(LabError):
    """A scenario file (or model) that the lab refuses, with every problem found.

    Attributes:
        source: The file read, or ``<scenarios>`` for a model built in code.
        problems: Each problem, naming the device and the field.
    """

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s)\n{lines}")


class CredentialsMissing(LabError):
    """A password the scenario points at cannot be read; never quotes a secret.

    Attributes:
        where: The device or jump host.
        source: The environment variable or file named by the scenario.
    """

    def __init__(self, where: str, source: str) -> None:
        self.where = where
        self.source = source
        super().__init__(f"{where}: password not found ({source})")


class ListenFailed(LabError):
    """The lab could not listen where a device or the jump host should be.

    Attributes:
        where: The device or jump host.
        address: The address asked for.
        port: The port asked for (0: any free port).
        reason: The system's answer.
    """

    def __init__(self, where: str, address: str, port: int, reason: str) -> None:
        self.where = where
        self.address = address
        self.port = port
        self.reason = reason
        super().__init__(f"{where}: cannot listen on {address}:{port}: {reason}")
