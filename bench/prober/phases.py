"""One phase: a contender's child process against the running lab, with the lab's CPU beside it.

The child prints one JSON line (``bench.prober.child``); its stderr (vigie's logs, any
traceback) goes to the phase's log file. Around it the harness samples how busy the machine
was just before (other work steals CPU from a 2-core machine) and the lab process's CPU
seconds, so a reader can tell when the lab, not the contender, was the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.ingest.processes import ProcessError, busy_cores, cpu_seconds, tail


@dataclass(frozen=True)
class Phase:
    """A contender on a path: ``vigie`` direct, ``asyncssh`` through the jump host…"""

    contender: str
    via_jump: bool = False

    @property
    def key(self) -> str:
        """Its name in the figures: ``vigie``, ``asyncssh``, ``vigie_jump``…"""
        return f"{self.contender}_jump" if self.via_jump else self.contender

    @property
    def label(self) -> str:
        """Its name in the table."""
        names = {
            "vigie": "vigie probe",
            "asyncssh": "raw asyncssh",
            "scrapli": "scrapli asyncio",
            "netmiko": "netmiko threads",
        }
        return names[self.contender]


async def _kill(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the child's process group and reap it."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


async def run_phase(
    phase: Phase,
    *,
    inventory: Path,
    args: list[str],
    env: Mapping[str, str],
    log_path: Path,
    lab_pid: int | None,
    timeout_s: float,
) -> dict[str, Any]:
    """Run the phase's child to its end; return its figures plus the lab's and machine's.

    Raises:
        ProcessError: The child failed, timed out, or printed no figures.
    """
    busy = await busy_cores(1.0)
    argv = [sys.executable, "-m", "bench.prober.child", phase.contender, str(inventory), *args]
    if phase.via_jump:
        argv.append("--via-jump")
    lab_before = cpu_seconds(lab_pid)
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=dict(env),
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        try:
            stdout, _ = await asyncio.wait_for(process.communicate(), timeout=timeout_s)
        except TimeoutError:
            raise ProcessError(
                f"{phase.key} did not finish within {timeout_s:g} s; log {log_path}"
            ) from None
        finally:
            await _kill(process)
    lab_after = cpu_seconds(lab_pid)
    lines = stdout.decode(errors="replace").strip().splitlines()
    if process.returncode != 0 or not lines:
        raise ProcessError(
            f"{phase.key} exited with code {process.returncode}; log {log_path}:\n"
            f"{tail(log_path, 15)}"
        )
    try:
        figures: dict[str, Any] = json.loads(lines[-1])
    except json.JSONDecodeError:
        raise ProcessError(f"{phase.key} printed no figures: {lines[-1][:200]!r}") from None
    wall = figures.get("wall_s") or 0.0
    figures["machine_busy_cores_before"] = busy
    figures["lab_cpu_s"] = (
        lab_after - lab_before if lab_before is not None and lab_after is not None else None
    )
    figures["lab_cpu_cores"] = (
        figures["lab_cpu_s"] / wall if figures["lab_cpu_s"] and wall else None
    )
    return figures
