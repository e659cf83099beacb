"""SSH access to the fleet: one connection per jump host, paced logins, bounded sessions.

::

    async with Access(credentials=CredentialStore(), options=AccessOptions()) as access:
        async with access.session(device) as session:       # a slot, then a login (or reuse)
            output = await session.run("show configure reporting alarm-log")

Manners toward the network:

* **One connection per jump host** carries every router behind it: each router connection is
  an SSH connection tunnelled in a direct-tcpip channel of the jump host's (asyncssh
  ``tunnel=``). It is opened once, by the first session that needs it; if it fails, every
  session waiting on it gets the failure and it is not tried again for ``jump_retry_after``.
* **Router connections are reused** while they stay open, and closed after ``idle_timeout``
  unused, or at once after a command failed on them (a hung or flooding router gets a fresh
  connection next time).
* **New logins are paced per jump host** (a token bucket, ``logins_per_second``): the AAA
  server behind the routers is not hit by hundreds of logins at once. Routers reached
  directly share one bucket.
* **Sessions are bounded** per jump host, then globally; a session holds its slots from login
  to its last command, and waits for the jump host's slot before taking a global one, so a
  busy jump host never holds global slots idle.
* **Every command** goes through :func:`vigie_prober.allowlist.check` first (what is sent is
  what it returns), and is bounded in bytes and time (:mod:`vigie_prober.channels`).
* **Host keys** are checked before any login is sent (:mod:`vigie_prober.host_keys`).
* **Credentials** come from :class:`~vigie_prober.credentials.CredentialStore` at each login
  and appear in no message, log line or error.

Every asyncssh connection is made from one :class:`asyncssh.SSHClientConnectionOptions`
built with the :class:`Access` (no ~/.ssh config, agent or default keys are read), plus the
host's login, trusted keys and tunnel.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import asyncssh

from vigie_prober import allowlist
from vigie_prober.channels import Caps, CommandOutput, Shell, run_exec
from vigie_prober.connections import Link, Opener, SharedLinks
from vigie_prober.credentials import CredentialStore
from vigie_prober.drivers import get_driver
from vigie_prober.errors import CommandFailed, CommandRefused, JumpHostFailed, ProberError
from vigie_prober.host_keys import HostKeys
from vigie_prober.inventory import JumpHostEntry
from vigie_prober.inventory_store import DeviceRecord
from vigie_prober.pacing import LoginPacer
from vigie_prober.pinger import Pinger

__all__ = ["Access", "AccessOptions", "AccessStats", "Session", "jump_ping_command"]

_DIRECT: Final = ""
"""The pacing and slot key of routers reached without a jump host."""
_MAX_PINGS: Final = 20
PREFERRED_CIPHERS: Final = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
)
"""asyncssh's ciphers with AES-GCM first: the CPU's AES instructions make it the cheapest for
the prober (a fleet's logins and outputs) and for the routers; every router still gets the
first one it supports."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessOptions:
    """How the prober reaches routers; one value for the whole fleet.

    Attributes:
        max_sessions: Router sessions at once, all jump hosts together.
        max_sessions_per_jump_host: Router sessions at once through one jump host (and for
            the routers reached directly, together).
        logins_per_second: New router logins a second, per jump host; 0: unpaced.
        login_burst: Logins allowed back to back before the pace applies.
        connect_timeout: Seconds for a connection: TCP (or tunnel), key exchange and login.
        command_timeout: Seconds for one command, from sending it to the end of its output.
        max_output_bytes: Bytes read of one command's output; past them, OutputTooLarge.
        mode: ``exec`` (one exec request per command) or ``shell`` (type at the prompt).
        known_hosts: The known_hosts file of entries that name none.
        known_hosts_folder: Where relative known_hosts paths are read from (default: the
            working directory).
        trust_on_first_use: Accept and record the key of a host no key is trusted for, for
            every profile (a profile can enable it alone, too).
        keepalive_interval: Seconds between SSH keepalives on idle connections; 0: none.
        idle_timeout: Seconds a router connection may stay unused before it is closed.
        jump_retry_after: Seconds a failed jump host is not tried again.
        window: SSH channel window in bytes: what a router may send ahead of our reading.
        ciphers: The ciphers offered, in order of preference (the router picks the first it
            knows).
    """

    max_sessions: int = 100
    max_sessions_per_jump_host: int = 50
    logins_per_second: float = 20.0
    login_burst: int = 1
    connect_timeout: float = 10.0
    command_timeout: float = 30.0
    max_output_bytes: int = 4 * 1024 * 1024
    mode: Literal["exec", "shell"] = "exec"
    known_hosts: Path | None = None
    known_hosts_folder: Path | None = None
    trust_on_first_use: bool = False
    keepalive_interval: float = 30.0
    idle_timeout: float = 30.0
    jump_retry_after: float = 5.0
    window: int = 512 * 1024
    ciphers: tuple[str, ...] = PREFERRED_CIPHERS

    @property
    def caps(self) -> Caps:
        """The byte and time caps of one command."""
        return Caps(max_bytes=self.max_output_bytes, timeout=self.command_timeout)


@dataclass
class AccessStats:
    """What the access did so far (figures for tests, metrics and the benchmark).

    Attributes:
        jump_connections: Connections opened to jump hosts.
        router_logins: Router connections opened (logins).
        reused: Sessions that reused an open router connection.
        sessions: Sessions open now.
        peak_sessions: The most sessions open at once.
        peak_per_jump_host: The most sessions open at once per jump host ("" for direct).
        paced_s: Seconds logins waited for their pace, in total.
    """

    jump_connections: int = 0
    router_logins: int = 0
    reused: int = 0
    sessions: int = 0
    peak_sessions: int = 0
    peak_per_jump_host: dict[str, int] = field(default_factory=dict)
    paced_s: float = 0.0
    _per_jump: dict[str, int] = field(default_factory=dict, repr=False)

    def enter(self, key: str) -> None:
        """A session started through ``key``."""
        self.sessions += 1
        self.peak_sessions = max(self.peak_sessions, self.sessions)
        now = self._per_jump[key] = self._per_jump.get(key, 0) + 1
        self.peak_per_jump_host[key] = max(self.peak_per_jump_host.get(key, 0), now)

    def leave(self, key: str) -> None:
        """A session through ``key`` ended."""
        self.sessions -= 1
        self._per_jump[key] -= 1


def jump_ping_command(address: str, count: int = 5) -> str:
    """The one command the prober sends to a jump host: ``ping -c N -w D <IP literal>``.

    ``-w`` bounds the whole run (a host that does not answer would otherwise keep ping
    waiting).

    Raises:
        CommandRefused: ``address`` is not an IP literal, or ``count`` not in 1 to 20.
    """
    command = f"ping -c {count} {address}"
    try:
        canonical = ipaddress.ip_address(address)
    except ValueError:
        raise CommandRefused(command, "jump_host", reason="not an IP address") from None
    if not 1 <= count <= _MAX_PINGS:
        raise CommandRefused(command, "jump_host", reason=f"count not in 1 to {_MAX_PINGS}")
    return f"ping -c {count} -w {count + 2} {canonical}"


class Session:
    """A logged-in session on one device, open for :meth:`Access.session`'s block."""

    def __init__(self, device: DeviceRecord, link: Link, *, reused: bool, options: AccessOptions):
        self.device = device
        self.reused = reused
        self.login_s = link.login_s if not reused else 0.0
        self.via = device.jump_host.name if device.jump_host else None
        self._link = link
        self._options = options
        self._shell: Shell | None = None
        self._host = f"{device.address}:{device.port}"

    async def run(self, command: str) -> CommandOutput:
        """Run one allow-listed command, within the byte and time caps.

        Raises:
            CommandRefused: Not on the device driver's allow-list: nothing was sent.
            CommandTimeout: Its output did not end in time (``output``: what came).
            OutputTooLarge: It printed more than the cap (``output``: the first bytes).
            CommandFailed: The session failed.
        """
        sent = allowlist.check(self.device.driver, command)
        caps = self._options.caps
        if self._options.mode == "exec":
            return await run_exec(self._link.conn, sent, caps=caps, host=self._host)
        if self._shell is None:
            prompt = get_driver(self.device.driver).prompt
            self._shell = await Shell.open(
                self._link.conn, prompt=prompt, caps=caps, host=self._host
            )
        return await self._shell.run(sent, caps=caps)

    def close(self) -> None:
        """Close the shell, if one was opened (the connection stays for reuse)."""
        if self._shell is not None:
            self._shell.close()
            self._shell = None


class Access:
    """The prober's SSH side: jump host connections, router connections, slots and pace."""

    def __init__(
        self, *, credentials: CredentialStore, options: AccessOptions | None = None
    ) -> None:
        """Build the fleet's SSH options once; nothing connects before the first session.

        Args:
            credentials: Where credentials profiles are read.
            options: Limits, caps, known_hosts, trust-on-first-use.
        """
        self.options = options = options or AccessOptions()
        self.stats = AccessStats()
        self.ssh_options = asyncssh.SSHClientConnectionOptions(
            config=None,
            client_keys=None,
            agent_path=None,
            agent_forwarding=False,
            gss_kex=False,
            gss_auth=False,
            host_based_auth=False,
            x509_trusted_certs=None,
            ignore_encrypted=True,
            connect_timeout=options.connect_timeout,
            keepalive_interval=options.keepalive_interval,
            keepalive_count_max=3,
            encoding=None,
            window=options.window,
            encryption_algs=list(options.ciphers),
        )
        host_keys = HostKeys(default_file=options.known_hosts, folder=options.known_hosts_folder)
        self._opener = Opener(
            ssh_options=self.ssh_options,
            credentials=credentials,
            host_keys=host_keys,
            connect_timeout=options.connect_timeout,
            trust_on_first_use=options.trust_on_first_use,
        )
        self._links = SharedLinks(idle_timeout=options.idle_timeout)
        self._jumps = SharedLinks(idle_timeout=0, retry_after=options.jump_retry_after)
        self._global = asyncio.Semaphore(options.max_sessions)
        self.pinger = Pinger()
        """The fleet's ICMP sockets (layer 1 from the prober), opened on first use."""
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._pacers: dict[str, LoginPacer] = {}

    async def __aenter__(self) -> Access:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"Access(options={self.options!r}, stats={self.stats!r})"

    @asynccontextmanager
    async def session(self, device: DeviceRecord) -> AsyncIterator[Session]:
        """A slot and a logged-in session on ``device``, through its jump host if it has one.

        Raises:
            AccessFailed: No login (credentials, host key, refused, time-out, jump host).
        """
        key = device.jump_host.name if device.jump_host else _DIRECT
        async with self._slot(key):
            link, reused = await self._router(device)
            session = Session(device, link, reused=reused, options=self.options)
            link.users += 1
            try:
                yield session
            except CommandRefused:
                raise  # nothing was sent: the connection is fine
            except CommandFailed:
                self._links.discard(link)  # a hung or flooding router: start afresh next time
                raise
            finally:
                session.close()
                link.release()

    async def run(self, device: DeviceRecord, command: str) -> CommandOutput:
        """Run one allow-listed command on ``device`` (a session of its own).

        Raises:
            AccessFailed: No login.
            CommandFailed: Refused, timed out, too large, or the session failed.
        """
        async with self.session(device) as session:
            return await session.run(command)

    async def ping_from_jump(self, device: DeviceRecord, *, count: int = 5) -> CommandOutput:
        """Run ``ping -c <count> <address>`` on the device's jump host (see jump_ping_command).

        Raises:
            ValueError: The device has no jump host.
            CommandRefused: The address is not an IP literal.
            JumpHostFailed: The jump host cannot be used.
            CommandFailed: The ping timed out or printed too much.
        """
        if device.jump_host is None:
            raise ValueError(f"{device.hostname} has no jump host to ping from")
        command = jump_ping_command(device.address, count)
        async with self._slot(device.jump_host.name):
            conn = (await self._jump(device.jump_host)).conn
            host = f"{device.jump_host.address}:{device.jump_host.port}"
            return await run_exec(conn, command, caps=self.options.caps, host=host)

    async def close(self) -> None:
        """Close every router connection, then the jump hosts', then the ICMP sockets."""
        await self._links.close()
        await self._jumps.close()
        self.pinger.close()

    @asynccontextmanager
    async def _slot(self, key: str) -> AsyncIterator[None]:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = asyncio.Semaphore(self.options.max_sessions_per_jump_host)
        async with slot, self._global:
            self.stats.enter(key)
            try:
                yield
            finally:
                self.stats.leave(key)

    async def _router(self, device: DeviceRecord) -> tuple[Link, bool]:
        """The open connection to ``device``, or a new one (paced)."""
        jump = device.jump_host
        via = jump.name if jump else _DIRECT
        # Everything the login depends on: a changed key or profile is a new connection.
        profile, known, host_key = device.credentials, device.known_hosts, device.host_key
        key = (via, device.address, device.port, profile, known, host_key)

        async def login() -> Link:
            tunnel = (await self._jump(jump)).conn if jump is not None else None
            pacer = self._pacer(jump.name if jump else _DIRECT)
            self.stats.paced_s += await pacer.wait()
            link = await self._opener.open(
                address=device.address,
                port=device.port,
                profile=device.credentials,
                known_hosts=device.known_hosts,
                host_key=device.host_key,
                tunnel=tunnel,
                via=jump.name if jump else None,
            )
            self.stats.router_logins += 1
            return link

        link, reused = await self._links.get(key, login)
        self.stats.reused += reused
        return link, reused

    async def _jump(self, jump: JumpHostEntry) -> Link:
        async def connect() -> Link:
            try:
                link = await self._opener.open(
                    address=jump.address,
                    port=jump.port,
                    profile=jump.credentials,
                    known_hosts=jump.known_hosts,
                    host_key=None,
                    tunnel=None,
                    via=None,
                )
            except ProberError as error:
                raise JumpHostFailed(jump.name, error) from None
            self.stats.jump_connections += 1
            return link

        link, _ = await self._jumps.get((jump.name, jump.address, jump.port, ""), connect)
        return link

    def _pacer(self, key: str) -> LoginPacer:
        pacer = self._pacers.get(key)
        if pacer is None:
            options = self.options
            pacer = LoginPacer(options.logins_per_second, burst=options.login_burst)
            self._pacers[key] = pacer
        return pacer
