"""Starting and stopping the lab, the embedded broker and the three services as local processes."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final

import httpx
from vigie_common.kafka.tansu import BrokerStartError, EmbeddedBroker

from vigie_devstack.datadir import (
    DataDir,
    LabPasswords,
    SecretFileError,
    load_or_create_lab_passwords,
    load_or_create_read_token,
    load_or_create_secret,
)
from vigie_devstack.lab import (
    LAB_MODULE,
    SEED_DEVICES,
    SEED_JUMP_HOST,
    SEED_SINKS,
    LabPlaceTaken,
    RunningLab,
    check_lab_places_free,
    lab_command,
    lab_environment,
    parse_lab_output,
    prober_lab_environment,
)
from vigie_devstack.notifier import notifier_lab_environment, write_dev_contacts
from vigie_devstack.services import (
    HOST,
    Ports,
    ServiceSpec,
    not_ready_reason,
    service_environment,
    service_specs,
)

__all__ = ["Stack", "StackError", "check_ports_free", "log_tail"]

READY_TIMEOUT_S: Final = 60.0
LAB_READY_TIMEOUT_S: Final = 30.0
MIGRATE_TIMEOUT_S: Final = 120.0
STOP_TIMEOUT_S: Final = 10.0
LOG_TAIL_LINES: Final = 20

Say = Callable[[str], None]


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of a log file (empty when there is none)."""
    try:
        with path.open("rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - 64 * 1024))
            text = file.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


def _complete_lines(path: Path, offset: int) -> list[str]:
    """The whole lines written to ``path`` after ``offset`` (a line still being written waits)."""
    try:
        with path.open("rb") as file:
            file.seek(offset)
            text = file.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text[: text.rfind("\n") + 1].splitlines()


def _exit_status(code: int | None) -> str:
    """``exit code 1`` or ``killed by SIGKILL``."""
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class StackError(RuntimeError):
    """Startup failed or a service died; ``log_file`` is where to look."""

    def __init__(self, message: str, *, log_file: Path | None = None) -> None:
        super().__init__(message)
        self.log_file = log_file


def check_ports_free(specs: Sequence[ServiceSpec]) -> None:
    """Fail before starting anything when a port is taken, naming the flag that changes it."""
    claimed: dict[int, str] = {}
    for spec in specs:
        if spec.port in claimed:
            raise StackError(
                f"{claimed[spec.port]} and {spec.flag} both ask for port {spec.port}: "
                "give them different ports"
            )
        claimed[spec.port] = spec.flag
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the services do
            try:
                sock.bind((HOST, spec.port))
            except OSError:
                raise StackError(
                    f"port {spec.port} on {HOST} is already in use ({spec.name} needs it): "
                    f"stop what listens there or choose another port with {spec.flag} <port>"
                ) from None


class Stack:
    """The lab, the broker and the services of one embedded run."""

    def __init__(
        self,
        data: DataDir,
        ports: Ports,
        say: Say,
        *,
        lab_any_ports: bool = False,
        ready_timeout: float = READY_TIMEOUT_S,
        lab_ready_timeout: float = LAB_READY_TIMEOUT_S,
        stop_timeout: float = STOP_TIMEOUT_S,
    ) -> None:
        self.data = data
        self.ports = ports
        self.specs = service_specs(ports)
        self.lab_any_ports = lab_any_ports
        self.lab: RunningLab | None = None
        """Where the lab listens and its inventory, once started."""
        self._say = say
        self._ready_timeout = ready_timeout
        self._lab_ready_timeout = lab_ready_timeout
        self._stop_timeout = stop_timeout
        self._broker: EmbeddedBroker | None = None
        self._lab_process: asyncio.subprocess.Process | None = None
        self._running: dict[str, asyncio.subprocess.Process] = {}
        self._read_token = ""

    @property
    def bootstrap_servers(self) -> str:
        """The broker's address, once started."""
        return self._broker.bootstrap_servers if self._broker else ""

    async def start(self) -> None:
        """Check the ports, start the lab and the broker, migrate, start the services, wait.

        The lab starts first: the prober imports the lab's inventory when it starts, and the
        notifier sends through the lab's mail and SMS sinks.

        Raises:
            StackError: When any step fails; call :meth:`stop` in every case.
        """
        check_ports_free(self.specs)
        if not self.lab_any_ports:
            try:
                check_lab_places_free((SEED_JUMP_HOST, *SEED_DEVICES, *SEED_SINKS))
            except LabPlaceTaken as exc:
                raise StackError(str(exc)) from None
        if importlib.util.find_spec(LAB_MODULE) is None:
            raise StackError(
                "the lab (package vigie-lab) is not installed beside vigie: "
                "run `make install` (uv sync --all-packages)"
            )
        try:
            self.data.prepare()
            secret = load_or_create_secret(self.data)
            self._read_token = load_or_create_read_token(self.data)
            lab_passwords = load_or_create_lab_passwords(self.data)
            write_dev_contacts(self.data)  # kept when there: the developer may have edited it
        except SecretFileError as exc:
            raise StackError(str(exc)) from None
        except OSError as exc:
            raise StackError(f"cannot use the data folder {self.data.root}: {exc}") from None
        self._say("starting the lab (simulated routers and jump host, SSH on loopback)…")
        self.lab = await self._start_lab(lab_passwords)
        self._say("starting the embedded broker (Tansu)…")
        tansu_log = self.data.log_file("tansu")
        self._broker = EmbeddedBroker(log_file=tansu_log)
        try:
            await self._broker.start()
        except BrokerStartError as exc:
            raise StackError(
                f"the embedded broker did not start: {exc}", log_file=tansu_log
            ) from exc
        env = service_environment(
            os.environ,
            secret=secret,
            read_token=self._read_token,
            bootstrap=self._broker.bootstrap_servers,
            ports=self.ports,
        )
        for spec in self.specs:
            self._say(f"migrating {spec.name} (SQLite)…")
            await self._migrate(spec, env)
        extra = {
            "prober": prober_lab_environment(self.data, self.lab),
            "notifier": notifier_lab_environment(self.data, self.lab),
        }
        for spec in self.specs:
            self._say(f"starting {spec.name}…")
            spec_env = {**env, **extra.get(spec.name, {})}
            self._running[spec.name] = await self._spawn(spec, spec.command, spec_env)
        self._say("waiting for the services to be ready…")
        await self._wait_ready()

    async def _start_lab(self, passwords: LabPasswords) -> RunningLab:
        """Start ``vigie-lab run`` on the seed and wait for its ``ready`` line in its log."""
        log_file = self.data.log_file("lab")
        offset = log_file.stat().st_size if log_file.exists() else 0  # earlier runs' lines
        with log_file.open("ab") as log:  # the child keeps its own copy
            self._lab_process = process = await asyncio.create_subprocess_exec(
                *lab_command(self.data, any_ports=self.lab_any_ports),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=lab_environment(os.environ, passwords),
                start_new_session=True,  # Ctrl-C reaches the launcher only; it stops the lab
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lab_ready_timeout
        while True:
            try:
                running = parse_lab_output(_complete_lines(log_file, offset))
            except ValueError as exc:
                raise StackError(str(exc), log_file=log_file) from None
            if running is not None:
                if running.mail is None or running.sms is None:
                    raise StackError(
                        "the lab said it was ready but printed no mail or no SMS sink "
                        "(is vigie-lab older than vigie? run `make install`)",
                        log_file=log_file,
                    )
                return running
            if process.returncode is not None:
                raise StackError(
                    f"the lab stopped while starting ({_exit_status(process.returncode)})",
                    log_file=log_file,
                )
            if loop.time() >= deadline:
                raise StackError(
                    f"the lab was not ready within {self._lab_ready_timeout:g} s",
                    log_file=log_file,
                )
            await asyncio.sleep(0.1)

    async def _spawn(
        self, spec: ServiceSpec, command: str, env: Mapping[str, str]
    ) -> asyncio.subprocess.Process:
        """Start ``python -m vigie_<name> <command>``, output appended to its log file."""
        service_env = {**env, "VIGIE_DATABASE_URL": self.data.database_url(spec.name)}
        with self.data.log_file(spec.name).open("ab") as log:  # the child keeps its own copy
            return await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                spec.module,
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=service_env,
                start_new_session=True,  # Ctrl-C reaches the launcher only; it stops them
            )

    async def _migrate(self, spec: ServiceSpec, env: Mapping[str, str]) -> None:
        process = await self._spawn(spec, "migrate", env)
        log_file = self.data.log_file(spec.name)
        try:
            code = await asyncio.wait_for(process.wait(), MIGRATE_TIMEOUT_S)
        except TimeoutError:
            raise StackError(
                f"migrating {spec.name} took over {MIGRATE_TIMEOUT_S:.0f} s", log_file=log_file
            ) from None
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        if code != 0:
            raise StackError(f"migrating {spec.name} failed (exit code {code})", log_file=log_file)

    def _raise_if_exited(self) -> None:
        if self._lab_process is not None and self._lab_process.returncode is not None:
            raise StackError(
                f"the lab stopped on its own ({_exit_status(self._lab_process.returncode)})",
                log_file=self.data.log_file("lab"),
            )
        for name, process in self._running.items():
            if process.returncode is not None:
                raise StackError(
                    f"{name} stopped while starting ({_exit_status(process.returncode)})",
                    log_file=self.data.log_file(name),
                )

    async def _wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._ready_timeout
        pending = list(self.specs)
        why: dict[str, str] = {}
        # The token lets readiness see the checks' details where they are only for readers.
        auth = {"Authorization": f"Bearer {self._read_token}"}
        async with httpx.AsyncClient(timeout=2.0, trust_env=False, headers=auth) as client:
            while pending:
                self._raise_if_exited()
                for spec in list(pending):
                    reason = await not_ready_reason(client, spec)
                    if reason is None:
                        pending.remove(spec)
                    else:
                        why[spec.name] = reason
                if not pending:
                    return
                if loop.time() >= deadline:
                    late = pending[0]
                    raise StackError(
                        f"{late.name} was not ready within {self._ready_timeout:g} s: "
                        f"{why[late.name]}",
                        log_file=self.data.log_file(late.name),
                    )
                await asyncio.sleep(0.25)

    async def watch(self) -> StackError:
        """Wait until a service or the lab exits or the broker stops answering; say which."""
        waits: dict[asyncio.Task[object], str] = {
            asyncio.create_task(p.wait()): name for name, p in self._running.items()
        }
        waits[asyncio.create_task(self._broker_gone())] = "tansu"
        if self._lab_process is not None:
            waits[asyncio.create_task(self._lab_process.wait())] = "lab"
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        task = done.pop()
        name = waits[task]
        if name == "tansu":
            return StackError(
                f"the embedded broker stopped answering on {self.bootstrap_servers}",
                log_file=self.data.log_file(name),
            )
        if name == "lab":
            assert self._lab_process is not None
            return StackError(
                f"the lab stopped on its own ({_exit_status(self._lab_process.returncode)})",
                log_file=self.data.log_file(name),
            )
        return StackError(
            f"{name} stopped on its own ({_exit_status(self._running[name].returncode)})",
            log_file=self.data.log_file(name),
        )

    async def _broker_gone(self, every: float = 2.0, misses: int = 3) -> None:
        """Return once the broker refused ``misses`` connections in a row."""
        assert self._broker is not None
        missed = 0
        while missed < misses:
            await asyncio.sleep(every)
            try:
                _reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self._broker.host, self._broker.port), every
                )
            except (OSError, TimeoutError):
                missed += 1
                continue
            missed = 0
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def stop(self) -> bool:
        """Stop every service (SIGTERM, then SIGKILL after the timeout), the lab, the broker.

        Returns:
            Whether anything was running.
        """
        alive = {n: p for n, p in self._running.items() if p.returncode is None}
        if alive:
            self._say("stopping the services…")
        for process in alive.values():
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        await asyncio.gather(*(self._reap(n, p) for n, p in alive.items()))
        self._running.clear()
        lab, self._lab_process = self._lab_process, None
        if lab is not None and lab.returncode is None:
            self._say("stopping the lab…")
            with contextlib.suppress(ProcessLookupError):
                lab.terminate()
            await self._reap("the lab", lab)
        broker, self._broker = self._broker, None
        if broker is not None:
            self._say("stopping the broker…")
            await broker.stop()
        return bool(alive) or lab is not None or broker is not None

    async def _reap(self, name: str, process: asyncio.subprocess.Process) -> None:
        try:
            await asyncio.wait_for(process.wait(), self._stop_timeout)
        except TimeoutError:
            self._say(f"{name} did not stop within {self._stop_timeout:.0f} s: killing it")
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
