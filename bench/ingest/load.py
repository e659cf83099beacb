"""Drive wrk against one endpoint and read its figures.

wrk (C, epoll) is the load generator because a Python client would saturate a CPU long before
a uvicorn worker does, and the bench would then measure itself. It runs in its own process
with a Lua script (``cycle.lua``) that cycles through pre-signed distinct requests and prints
exact figures from its ``done()`` hook; the human-readable summary is parsed as a cross-check.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

LUA_SCRIPT = Path(__file__).with_name("cycle.lua")

WRK_MISSING = (
    "wrk is not installed (looked for it on PATH and at /usr/bin/wrk). "
    "Install it with `sudo apt-get install wrk` (the Makefile and .ci/run do this)."
)


class LoadError(RuntimeError):
    """wrk could not run or its output was not understood; the message says why."""


def wrk_binary() -> str:
    """Path to wrk, or :class:`LoadError` with the install command."""
    found = shutil.which("wrk") or ("/usr/bin/wrk" if Path("/usr/bin/wrk").is_file() else None)
    if found is None:
        raise LoadError(WRK_MISSING)
    return found


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured; latencies in milliseconds."""

    duration_s: float
    requests: int
    statuses: dict[int, int]
    latency_ms: dict[str, float]
    socket_errors: dict[str, int]
    wraps: int
    issued: int = 0
    summary_requests_per_s: float | None = None
    output: str = field(default="", repr=False)

    @property
    def requests_per_s(self) -> float:
        """Completed responses per second, whatever their status."""
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def accepted(self) -> int:
        """Responses with status 202 Accepted."""
        return self.statuses.get(202, 0)

    @property
    def accepted_per_s(self) -> float:
        """202 responses per second."""
        return self.accepted / self.duration_s if self.duration_s else 0.0

    @property
    def non_2xx(self) -> int:
        """Responses whose status is not 2xx (wrk itself only counts >= 400)."""
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    @property
    def unanswered(self) -> int:
        """Requests sent without a response counted: in flight when wrk stopped, or timed out.

        The server may have accepted them, so the consumer may see up to this many events
        more than the 202s wrk counted.
        """
        return max(0, self.issued - self.requests)

    @property
    def socket_error_count(self) -> int:
        """Connect, read, write errors and timeouts (requests that got no response)."""
        return sum(self.socket_errors.values())


_BENCH_LINE = re.compile(r"^@bench (\S+) (\S+)$", re.MULTILINE)
_SUMMARY_RPS = re.compile(r"^Requests/sec:\s+([0-9.]+)", re.MULTILINE)


def parse_wrk_output(output: str) -> WrkResult:
    """Read the ``@bench`` lines printed by ``cycle.lua``'s ``done()`` hook."""
    values = {key: float(value) for key, value in _BENCH_LINE.findall(output)}
    if "requests" not in values or "duration_us" not in values:
        raise LoadError(f"wrk output has no @bench figures:\n{output[-2000:]}")
    statuses = {
        int(key.removeprefix("status_")): int(n)
        for key, n in values.items()
        if key.startswith("status_")
    }
    latency_ms = {
        "p50": values["latency_p50_us"] / 1000,
        "p90": values["latency_p90_us"] / 1000,
        "p99": values["latency_p99_us"] / 1000,
        "p99.9": values["latency_p99.9_us"] / 1000,
        "mean": values["latency_mean_us"] / 1000,
        "max": values["latency_max_us"] / 1000,
    }
    socket_errors = {
        kind: int(values[f"errors_{kind}"]) for kind in ("connect", "read", "write", "timeout")
    }
    rps = _SUMMARY_RPS.search(output)
    return WrkResult(
        duration_s=values["duration_us"] / 1e6,
        requests=int(values["requests"]),
        statuses=statuses,
        latency_ms=latency_ms,
        socket_errors=socket_errors,
        wraps=int(values.get("wraps", 0)),
        issued=int(values.get("issued", 0)),
        summary_requests_per_s=float(rps.group(1)) if rps else None,
        output=output,
    )


async def run_wrk(
    url: str,
    requests_file: Path,
    *,
    duration_s: int,
    concurrency: int,
    threads: int,
    grace_s: float = 60.0,
) -> WrkResult:
    """Run wrk for ``duration_s`` and return its figures; never outlives this call.

    ``grace_s`` bounds the time wrk may take beyond the run itself (loading the requests
    file, closing connections); past it wrk is killed and :class:`LoadError` raised.
    """
    argv = [
        wrk_binary(),
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{duration_s}s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(requests_file),
        str(threads),
    ]
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches us; we stop wrk ourselves below
    )
    try:
        stdout, _ = await asyncio.wait_for(process.communicate(), timeout=duration_s + grace_s)
    except TimeoutError as exc:
        raise LoadError(f"wrk did not finish within {duration_s + grace_s:.0f}s") from exc
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL)
            await process.wait()
    output = stdout.decode(errors="replace")
    if process.returncode != 0:
        raise LoadError(f"wrk exited with code {process.returncode}:\n{output[-2000:]}")
    return parse_wrk_output(output)
