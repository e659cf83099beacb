"""CPU over a phase: each process of the run, PostgreSQL as a whole, the machine.

Read from Linux ``/proc`` before and after the timed window. CPU seconds per mail barely
move when other work takes CPUs away from the run, unlike rates, so they say which process
costs what even on a busy machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

BUSY_WARNING: Final = 0.25
"""Cores kept busy by other work above which a phase's progress line warns."""


def _proc_cpu(pid: int, *, reaped: bool = False) -> float:
    """User + system CPU seconds of a process (and of its reaped children), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> float:
    """CPU seconds of PostgreSQL so far: every ``postgres`` process, plus the exited ones.

    A backend that exits (a connection closed) is reaped by the postmaster, whose
    children's times then include it: the sum stays whole across connections' lives.
    """
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        total += _proc_cpu(int(entry.name), reaped=_is_not_postgres(parent))
    return total


def _is_not_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() != "postgres"
    except OSError:
        return True


def machine_cpu() -> float:
    """CPU seconds every core of the machine spent busy so far (``/proc/stat``)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds over a window: named processes, PostgreSQL, this harness, the machine."""

    def __init__(self, pids: Mapping[str, int | None]) -> None:
        self.pids = dict(pids)
        self._before: dict[str, float] = {}
        self._started = 0.0

    def _read(self) -> dict[str, float]:
        times = os.times()
        found = {name: _proc_cpu(pid) for name, pid in self.pids.items() if pid is not None}
        found.update(
            postgres=postgres_cpu(), harness=times.user + times.system, machine=machine_cpu()
        )
        return found

    def start(self) -> None:
        """Read every clock."""
        self._before = self._read()
        self._started = time.monotonic()

    def stop(self, prefix: str) -> dict[str, float]:
        """``<prefix>_<name>_cpu_s`` and ``…_cpu_cores`` for each process and the machine."""
        after = self._read()
        elapsed = time.monotonic() - self._started
        out: dict[str, float] = {}
        for name, value in after.items():
            used = value - self._before.get(name, value)
            out[f"{prefix}_{name}_cpu_s"] = used
            out[f"{prefix}_{name}_cpu_cores"] = used / elapsed if elapsed > 0 else 0.0
        return out


def per_mail(
    cpu: Mapping[str, float], mails: int, prefix: str, names: Iterable[str]
) -> dict[str, float | None]:
    """``<prefix>_<name>_cpu_ms_per_mail``: CPU milliseconds each mail cost that process.

    Unlike a rate, it barely moves when other work takes CPUs from the run.
    """
    out: dict[str, float | None] = {}
    for name in names:
        used = cpu.get(f"{prefix}_{name}_cpu_s")
        out[f"{prefix}_{name}_cpu_ms_per_mail"] = used / mails * 1000 if used is not None else None
    return out


def busy_note(phase: str, busy: float | None) -> str:
    """The progress line about other work on the machine, a warning above 0.25 cores."""
    shown = "n/a" if busy is None else f"{busy:.2f}"
    line = f"{phase}: machine busy before: {shown} of {os.cpu_count()} CPUs"
    if busy is not None and busy > BUSY_WARNING:
        line += "; WARNING other work competes for the CPUs: figures will be lower than alone"
    return line
