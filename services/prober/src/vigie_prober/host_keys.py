"""Which host keys the prober trusts for a router or a jump host, and trust-on-first-use.

A host's trusted keys are the inventory's ``host_key`` for it, if any, and the keys its
known_hosts file lists for ``[address]:port`` (or the bare address on port 22), as OpenSSH
matches them. The file is the entry's ``known_hosts`` (a relative path is read from the
configured folder, as the lab's inventory writes ``known_hosts`` beside its data), or the
default file. Files are read once and again only when they change.

A host whose presented key is not trusted:

* has other keys trusted (or its key is revoked): **mismatch**, the connection stops before
  any login is sent, whatever the settings;
* has no key trusted: **unknown**, refused, unless trust-on-first-use is enabled (by the
  credentials profile or the prober's setting); then its key is accepted, recorded in its
  known_hosts file (when it has one) and trusted for the life of the process.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

__all__ = ["HostKeyCheck", "HostKeys", "Trust", "known_hosts_name"]


def known_hosts_name(host: str, port: int) -> str:
    """The host as known_hosts writes it: ``[host]:port``, the bare host on port 22."""
    return host if port == 22 else f"[{host}]:{port}"


@dataclass(frozen=True, slots=True)
class Trust:
    """What is trusted for one host, and what to do with a key never seen.

    Attributes:
        host: Address the prober connects to.
        port: Its SSH port.
        keys: Trusted host keys.
        ca_keys: Trusted certificate authorities.
        revoked: Revoked keys.
        first_use: Accept and record a key when nothing is trusted for the host.
        record_to: The known_hosts file a first-use key is added to (None: memory only).
    """

    host: str
    port: int
    keys: tuple[asyncssh.SSHKey, ...] = ()
    ca_keys: tuple[asyncssh.SSHKey, ...] = ()
    revoked: tuple[asyncssh.SSHKey, ...] = ()
    first_use: bool = False
    record_to: Path | None = None

    @property
    def known(self) -> bool:
        """Whether some key or authority is trusted for the host."""
        return bool(self.keys or self.ca_keys)

    def fingerprints(self) -> tuple[str, ...]:
        """The trusted keys' fingerprints, for a mismatch's message."""
        return tuple(key.get_fingerprint() for key in self.keys)


@dataclass(eq=False)
class HostKeyCheck:
    """Decides on a key asyncssh did not find trusted; keeps what it saw for the error.

    Attributes:
        trust: What is trusted for the host.
        presented: The key the host presented, when it was not trusted.
        first_use: True when the key was accepted on first use (to be recorded).
    """

    trust: Trust
    presented: asyncssh.SSHKey | None = None
    first_use: bool = field(default=False)

    def validate(self, key: asyncssh.SSHKey) -> bool:
        """Accept an untrusted key only on first use of an unknown host."""
        self.presented = key
        if self.trust.known or not self.trust.first_use:
            return False
        self.first_use = True
        return True


class HostKeys:
    """Known_hosts files (cached), inventory keys, and the keys accepted on first use."""

    def __init__(self, *, default_file: Path | None = None, folder: Path | None = None) -> None:
        """Trust keys from ``default_file`` when an entry names no file of its own.

        Args:
            default_file: The known_hosts file of entries that name none.
            folder: Where relative known_hosts paths are read from (default: the current one).
        """
        self._default = default_file
        self._folder = folder
        self._files: dict[Path, _Parsed] = {}
        self._first_use: dict[tuple[str, int], asyncssh.SSHKey] = {}

        self._lock = asyncio.Lock()

    def path(self, known_hosts: str | None) -> Path | None:
        """The file an entry's ``known_hosts`` names (the default one when it names none)."""
        if not known_hosts:
            return self._default
        path = Path(known_hosts).expanduser()
        return path if path.is_absolute() or self._folder is None else self._folder / path

    def trust(
        self,
        *,
        host: str,
        port: int,
        known_hosts: str | None,
        host_key: str | None,
        first_use: bool,
    ) -> Trust:
        """What is trusted for ``host:port``.

        Args:
            host: The address connected to.
            port: The SSH port.
            known_hosts: The entry's known_hosts file, if it names one.
            host_key: The entry's own key (``ssh-ed25519 AAAA…``), if it has one.
            first_use: Whether trust-on-first-use is enabled for it.

        Raises:
            ValueError: The inventory's ``host_key`` is not a public key, or the known_hosts
                file is there but cannot be read.
        """
        keys: list[asyncssh.SSHKey] = []
        ca_keys: list[asyncssh.SSHKey] = []
        revoked: list[asyncssh.SSHKey] = []
        if host_key:
            try:
                keys.append(asyncssh.import_public_key(host_key))
            except (asyncssh.KeyImportError, ValueError):
                raise ValueError(f"the inventory's host_key for {host}:{port} is no key") from None
        path = self.path(known_hosts)
        if path is not None and (matched := self._match(path, host, port)) is not None:
            keys += matched[0]
            ca_keys += matched[1]
            revoked += matched[2]
        if not keys and not ca_keys and (seen := self._first_use.get((host, port))):
            keys.append(seen)
        return Trust(  # a line may match by name and by address: each key once
            host=host,
            port=port,
            keys=tuple(dict.fromkeys(keys)),
            ca_keys=tuple(dict.fromkeys(ca_keys)),
            revoked=tuple(dict.fromkeys(revoked)),
            first_use=first_use,
            record_to=path,
        )

    async def remember(self, trust: Trust, key: asyncssh.SSHKey) -> None:
        """Trust a key accepted on first use, and add it to the host's known_hosts file.

        Raises:
            OSError: The file cannot be written (the key stays trusted in memory).
        """
        self._first_use[(trust.host, trust.port)] = key
        if trust.record_to is None:
            return
        blob = " ".join(key.export_public_key("openssh").decode("ascii").split()[:2])
        line = f"{known_hosts_name(trust.host, trust.port)} {blob}\n"
        async with self._lock:
            await asyncio.to_thread(_append, trust.record_to, line)
            self._files.pop(trust.record_to, None)

    def _match(self, path: Path, host: str, port: int) -> _Matched | None:
        """The file's keys for ``host:port`` (trusted, CAs, revoked), memoised per file version.

        A fleet's known_hosts has a line per router: matching every login against all of them
        again would cost more than the login's own key check.
        """
        parsed = self._read(path)
        if parsed is None:
            return None
        found = parsed.matches.get((host, port))
        if found is None:
            keys, ca_keys, revoked, *_ = parsed.known.match(
                host, host, port if port != 22 else None
            )
            found = parsed.matches[(host, port)] = (list(keys), list(ca_keys), list(revoked))
        return found

    def _read(self, path: Path) -> _Parsed | None:
        """The file's entries, read again only when its size or time changed; None if absent.

        Raises:
            ValueError: The file is there but cannot be read or parsed.
        """
        try:
            stat = path.stat()
        except OSError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._files.get(path)
        if cached is not None and cached.stamp == stamp:
            return cached
        try:
            known = asyncssh.import_known_hosts(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            # A file that is there but unreadable must not look empty: first use would then
            # accept any key.
            raise ValueError(f"known_hosts file {path} cannot be read ({error})") from None
        parsed = self._files[path] = _Parsed(stamp, known)
        return parsed


_Matched = tuple[list[asyncssh.SSHKey], list[asyncssh.SSHKey], list[asyncssh.SSHKey]]
"""Trusted keys, CA keys and revoked keys of one host:port."""


@dataclass
class _Parsed:
    """One version of a known_hosts file, and what each host:port matched in it."""

    stamp: tuple[int, int]
    known: asyncssh.SSHKnownHosts
    matches: dict[tuple[str, int], _Matched] = field(default_factory=dict)


def _append(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    with os.fdopen(fd, "a", encoding="ascii") as file:
        file.write(line)
