"""Opening one SSH connection (errors named for their condition), and sharing open ones.

:class:`Opener` makes one connection, directly or through a tunnel, from the fleet's options
object plus the host's login and trusted keys, and turns what asyncssh raises into the
prober's errors (:mod:`vigie_prober.errors`): a refused login, a host key, a time-out, a
refusal. :class:`SharedLinks` keeps connections by key: the first caller opens, the others
wait on the same opening, and an open connection is handed out again until it closes, stays
unused too long, or a command failed on it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Hashable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Final

import asyncssh

from vigie_prober.credentials import CredentialStore
from vigie_prober.errors import (
    AccessFailed,
    AuthFailed,
    ConnectFailed,
    ConnectTimeout,
    HostKeyMismatch,
    HostKeyUnknown,
)
from vigie_prober.host_keys import HostKeyCheck, HostKeys

__all__ = ["Link", "Opener", "SharedLinks", "close_quietly"]

_SWEEP_EVERY: Final = 1.0
_CLOSE_WAIT: Final = 2.0


class _Client(asyncssh.SSHClient):
    """One connection's client side: decides on untrusted host keys, notices the end."""

    def __init__(self, check: HostKeyCheck) -> None:
        self.check = check
        self.lost = False

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        """Called for a key not among the trusted ones: first use, or refuse."""
        return self.check.validate(key)

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection ended: it is not handed out again."""
        self.lost = True


@dataclass(eq=False)
class Link:
    """An open connection and how it is used.

    Attributes:
        conn: The asyncssh connection.
        login_s: Seconds its opening took (connect, key exchange, login).
        users: Sessions using it now.
        last_used: When the last session left it (monotonic seconds).
    """

    conn: asyncssh.SSHClientConnection
    client: _Client = field(repr=False)
    login_s: float = 0.0
    users: int = 0
    last_used: float = field(default_factory=time.monotonic)

    @property
    def open(self) -> bool:
        """Whether the connection is still up."""
        return not self.client.lost

    def release(self) -> None:
        """A session left it."""
        self.users -= 1
        self.last_used = time.monotonic()


async def close_quietly(conn: asyncssh.SSHClientConnection) -> None:
    """Close a connection and wait a little for it: a silent peer does not hold the caller."""
    conn.close()
    with suppress(TimeoutError, asyncssh.Error, OSError):
        await asyncio.wait_for(conn.wait_closed(), _CLOSE_WAIT)


class Opener:
    """Opens connections from the fleet's options object, one host's login and keys added."""

    def __init__(
        self,
        *,
        ssh_options: asyncssh.SSHClientConnectionOptions,
        credentials: CredentialStore,
        host_keys: HostKeys,
        connect_timeout: float,
        trust_on_first_use: bool,
    ) -> None:
        """Keep what every connection shares."""
        self._ssh = ssh_options
        self._credentials = credentials
        self._host_keys = host_keys
        self._timeout = connect_timeout
        self._first_use = trust_on_first_use

    async def open(
        self,
        *,
        address: str,
        port: int,
        profile: str,
        known_hosts: str | None,
        host_key: str | None,
        tunnel: asyncssh.SSHClientConnection | None,
        via: str | None,
    ) -> Link:
        """Connect and log in to ``address:port`` (through ``tunnel`` when given).

        Raises:
            CredentialsMissing: The profile is not configured.
            HostKeyMismatch: The host presented another key than the trusted one.
            HostKeyUnknown: No key is trusted for it and first use is not enabled.
            AuthFailed: The login was refused.
            ConnectTimeout: Not logged in within the connect time-out.
            ConnectFailed: Refused, unreachable, or dropped (through ``via``, the jump host
                could not open the tunnel).
            AccessFailed: The known_hosts file, the inventory's key or the profile's key
                cannot be used.
        """
        host = f"{address}:{port}"
        credentials = self._credentials.get(profile)
        try:
            trust = self._host_keys.trust(
                host=address,
                port=port,
                known_hosts=known_hosts,
                host_key=host_key,
                first_use=self._first_use or credentials.trust_on_first_use,
            )
        except ValueError as error:
            raise AccessFailed(str(error), host=host) from None
        check = HostKeyCheck(trust)
        client = _Client(check)
        login: dict[str, Any] = {
            "username": credentials.username,
            "password": (credentials.password.get_secret_value() if credentials.password else None),
            "client_keys": [str(credentials.key_file)] if credentials.key_file else None,
            "passphrase": (
                credentials.passphrase.get_secret_value() if credentials.passphrase else None
            ),
            "known_hosts": (list(trust.keys), list(trust.ca_keys), list(trust.revoked)),
            "client_factory": lambda: client,
        }
        if tunnel is not None:
            login["tunnel"] = tunnel
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout + 1.0):  # asyncssh's own cap, and a belt
                conn = await asyncssh.connect(
                    address, port, options=self._ssh, config=None, **login
                )
        except asyncssh.HostKeyNotVerifiable:
            raise _host_key_error(check, host) from None
        except asyncssh.PermissionDenied:
            raise AuthFailed(host=host, profile=profile) from None
        except TimeoutError:
            raise ConnectTimeout(host=host, timeout=self._timeout) from None
        except asyncssh.ChannelOpenError as error:
            cause = f"jump host {via} could not open a tunnel: {error.reason[:150]}"
            raise ConnectFailed(host=host, cause=cause) from None
        except (asyncssh.Error, OSError) as error:
            raise ConnectFailed(host=host, cause=_cause(error)) from None
        except ValueError:  # a key file that cannot be loaded (asyncssh.KeyImportError…)
            raise AccessFailed(
                f"credentials profile {profile!r}: its key cannot be loaded", host=host
            ) from None
        if check.first_use and check.presented is not None:
            with suppress(OSError):  # trusted in memory even when the file cannot be written
                await self._host_keys.remember(trust, check.presented)
        return Link(conn=conn, client=client, login_s=time.perf_counter() - started)


def _host_key_error(check: HostKeyCheck, host: str) -> HostKeyMismatch | HostKeyUnknown:
    presented = check.presented.get_fingerprint() if check.presented is not None else None
    if check.trust.known or check.presented is None:  # None: the key is revoked
        return HostKeyMismatch(host=host, presented=presented, expected=check.trust.fingerprints())
    return HostKeyUnknown(host=host, presented=presented)


def _cause(error: BaseException) -> str:
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno)  # asyncio's own text repeats the address
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    if isinstance(error, asyncssh.Error) and error.reason:
        return error.reason
    return str(error) or type(error).__name__


def _opened(task: asyncio.Task[Link]) -> bool:
    """Whether the opening is over and gave a connection."""
    return task.done() and not task.cancelled() and task.exception() is None


class SharedLinks:
    """Connections by key: opened once by the first caller, shared while they stay open."""

    def __init__(self, *, idle_timeout: float, retry_after: float = 0.0) -> None:
        """Close connections unused for ``idle_timeout`` seconds (0: never).

        Args:
            idle_timeout: Seconds an unused connection is kept; 0 keeps it until close().
            retry_after: Seconds a failed opening is handed out again as it failed, before a
                new attempt (0: the next caller tries again).
        """
        self._idle = idle_timeout
        self._retry_after = retry_after
        self._tasks: dict[Hashable, asyncio.Task[Link]] = {}
        self._failed_at: dict[Hashable, float] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return sum(1 for task in self._tasks.values() if _opened(task))

    async def get(self, key: Hashable, opening: Callable[[], Awaitable[Link]]) -> tuple[Link, bool]:
        """The open connection of ``key``, or a new one from ``opening``.

        Returns:
            The connection, and True when this caller did not open it itself.

        Raises:
            Whatever ``opening`` raised (to every caller waiting on it).
        """
        task = self._tasks.get(key)
        if task is not None and task.done():
            if task.cancelled() or task.exception() is not None:
                failed = time.monotonic() - self._failed_at.get(key, 0.0) < self._retry_after
                task = task if failed and not task.cancelled() else None
            elif not task.result().open:
                task = None
        shared = task is not None
        if task is None:
            task = asyncio.ensure_future(opening())
            self._tasks[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
            self._watch()
        return await asyncio.shield(task), shared

    def _finished(self, key: Hashable, task: asyncio.Task[Link]) -> None:
        if _opened(task) or self._tasks.get(key) is not task:
            return
        if self._retry_after > 0:
            self._failed_at[key] = time.monotonic()
        else:
            del self._tasks[key]

    def discard(self, link: Link) -> None:
        """Forget and close a connection (a command failed on it); closing is not awaited."""
        for key, task in list(self._tasks.items()):
            if _opened(task) and task.result() is link:
                del self._tasks[key]
        link.conn.close()

    def _watch(self) -> None:
        """Sweep idle connections while there are some."""
        if self._idle > 0 and (self._sweeper is None or self._sweeper.done()):
            self._sweeper = asyncio.create_task(self._sweep_while_open())

    async def _sweep_while_open(self) -> None:
        while self._tasks:
            await asyncio.sleep(min(_SWEEP_EVERY, self._idle))
            self._sweep()

    def _sweep(self) -> None:
        """Close connections closed by their peer or unused for longer than the idle time-out."""
        now = time.monotonic()
        for key, task in list(self._tasks.items()):
            if not _opened(task):
                continue
            link = task.result()
            if not link.open or (link.users <= 0 and now - link.last_used > self._idle):
                del self._tasks[key]
                link.conn.close()

    async def close(self) -> None:
        """Close every connection; openings still running are cancelled."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with suppress(asyncio.CancelledError):
                await self._sweeper
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        links = []
        for task in tasks:
            with suppress(asyncio.CancelledError, Exception):
                links.append(await task)
        await asyncio.gather(*(close_quietly(link.conn) for link in links))
