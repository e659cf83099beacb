"""The prober's errors, named for the condition; each carries its fields, never a secret.

Tree::

    ProberError                 base: ``reason`` (one line for a human), ``host``, ``retriable``
    ├── Unreachable             layer 1: nothing answered (ping, or the SSH port refused)
    ├── AccessFailed            layer 2: no shell on the router
    │   ├── CredentialsMissing  the credentials profile is not configured (names the variables)
    │   ├── AuthFailed          the router (or jump host) refused the login
    │   ├── HostKeyMismatch     the host presented another key than the trusted one
    │   ├── HostKeyUnknown      no trusted key for the host, and trust-on-first-use is off
    │   ├── ConnectTimeout      the connection or login did not complete in time
    │   ├── ConnectFailed       the connection was refused or dropped before login
    │   └── JumpHostFailed      the jump host itself failed (``cause`` is its error)
    └── CommandFailed           layer 3: a command gave no usable output
        ├── CommandTimeout      no end of output within the time cap (``output`` so far)
        ├── OutputTooLarge      more output than the byte cap (``output``: the first bytes)
        └── CommandRefused      not on the driver's allow-list: never sent

``retriable`` tells a scheduler whether trying again later may succeed (a time-out, a refused
connection) or not without someone fixing something (a wrong password, a changed host key).
Messages name the host, the port and the credentials *profile*, never a username's password,
a key or a passphrase; a command's output is carried as a field (evidence), never in the
message. The runbook turns every one of them into ``inconclusive (<reason>)``, or
``unreachable`` for :class:`Unreachable`.
"""

from __future__ import annotations

from typing import ClassVar, Final, Literal

__all__ = [
    "AccessFailed",
    "AuthFailed",
    "CommandFailed",
    "CommandRefused",
    "CommandTimeout",
    "ConnectFailed",
    "ConnectTimeout",
    "CredentialsMissing",
    "HostKeyMismatch",
    "HostKeyUnknown",
    "JumpHostFailed",
    "Layer",
    "OutputTooLarge",
    "ProberError",
    "Unreachable",
]

Layer = Literal["reachability", "access", "evidence"]
"""The runbook's layers that can fail (layer 4, the verdict, always gives one)."""

_SHOWN: Final = 80


def shown(command: str) -> str:
    """A command as messages quote it: control characters escaped, cut at 80 characters."""
    return repr(command[:_SHOWN]) + ("…" if len(command) > _SHOWN else "")


class ProberError(Exception):
    """Base of the prober's errors.

    Attributes:
        reason: What happened, one line for a human (the verdict's reason).
        host: The device or jump host concerned (``address:port`` or a name), if any.
    """

    retriable: ClassVar[bool] = False
    layer: ClassVar[Layer] = "access"

    def __init__(self, reason: str, *, host: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.host = host


class Unreachable(ProberError):
    """Nothing answered: the reachability layer failed."""

    retriable = True
    layer = "reachability"


class AccessFailed(ProberError):
    """No shell on the router: the access layer failed."""

    layer = "access"


class CredentialsMissing(AccessFailed):
    """The credentials profile is not configured.

    Attributes:
        profile: The profile's name, as the inventory gives it.
        variables: The environment variables that would configure it.
    """

    def __init__(self, profile: str, variables: tuple[str, ...], *, problem: str) -> None:
        super().__init__(f"credentials profile {profile!r}: {problem}")
        self.profile = profile
        self.variables = variables


class AuthFailed(AccessFailed):
    """The login was refused.

    Attributes:
        profile: The credentials profile that was tried (its name, never its secrets).
    """

    def __init__(self, *, host: str, profile: str) -> None:
        super().__init__(f"authentication failed on {host} (profile {profile})", host=host)
        self.profile = profile


class HostKeyMismatch(AccessFailed):
    """The host presented a key other than the one trusted for it: nothing more was sent.

    Attributes:
        presented: The presented key's fingerprint (``SHA256:…``), if known.
        expected: The fingerprints of the keys trusted for the host.
    """

    def __init__(self, *, host: str, presented: str | None, expected: tuple[str, ...]) -> None:
        what = f"presented {presented}" if presented else "presented another key"
        trusted = ", ".join(expected) or "a revoked key"
        super().__init__(
            f"host key mismatch on {host}: {what}, known host key {trusted}", host=host
        )
        self.presented = presented
        self.expected = expected


class HostKeyUnknown(AccessFailed):
    """No key is trusted for the host, and trust-on-first-use is not enabled for it.

    Attributes:
        presented: The presented key's fingerprint (``SHA256:…``), if known.
    """

    def __init__(self, *, host: str, presented: str | None) -> None:
        what = f" (presented {presented})" if presented else ""
        super().__init__(f"host key unknown for {host}{what}: not in known_hosts", host=host)
        self.presented = presented


class ConnectTimeout(AccessFailed):
    """The connection, key exchange or login did not complete in time.

    Attributes:
        timeout: The cap, in seconds.
    """

    retriable = True

    def __init__(self, *, host: str, timeout: float) -> None:
        super().__init__(f"connection to {host} timed out after {timeout:g} s", host=host)
        self.timeout = timeout


class ConnectFailed(AccessFailed):
    """The connection was refused or dropped before a shell was opened.

    Attributes:
        cause: What the network or the SSH library said (bounded, no secret).
    """

    retriable = True

    def __init__(self, *, host: str, cause: str) -> None:
        super().__init__(f"connection to {host} failed: {cause[:200]}", host=host)
        self.cause = cause[:200]


class JumpHostFailed(AccessFailed):
    """The jump host could not be used; ``cause`` is why (its own access error).

    Attributes:
        jump_host: The jump host's name.
        cause: Its error: a login refused, a host key, a time-out, a refusal to forward.
    """

    def __init__(self, jump_host: str, cause: ProberError) -> None:
        super().__init__(f"jump host {jump_host}: {cause.reason}", host=cause.host)
        self.jump_host = jump_host
        self.cause = cause

    @property
    def retriable(self) -> bool:  # type: ignore[override]
        """As retriable as its cause."""
        return self.cause.retriable


class CommandFailed(ProberError):
    """A command gave no usable output: the evidence layer failed.

    Attributes:
        command: The command, as sent.
        output: What came back before the failure (evidence; bounded by the byte cap).
    """

    layer = "evidence"

    def __init__(
        self, reason: str, *, command: str, output: str = "", host: str | None = None
    ) -> None:
        super().__init__(reason, host=host)
        self.command = command
        self.output = output


class CommandTimeout(CommandFailed):
    """The command's output did not end within the time cap.

    Attributes:
        timeout: The cap, in seconds.
        bytes_read: Bytes received before the cap.
    """

    retriable = True

    def __init__(
        self, *, command: str, timeout: float, output: str, bytes_read: int, host: str | None
    ) -> None:
        super().__init__(
            f"command time-out after {timeout:g} s on {shown(command)} ({bytes_read} bytes read)",
            command=command,
            output=output,
            host=host,
        )
        self.timeout = timeout
        self.bytes_read = bytes_read


class OutputTooLarge(CommandFailed):
    """The command printed more than the byte cap; reading stopped there, the channel closed.

    Attributes:
        limit: The cap, in bytes.
        bytes_read: Bytes kept (the cap).
    """

    def __init__(self, *, command: str, limit: int, output: str, host: str | None) -> None:
        super().__init__(
            f"output too large: over {limit} bytes on {shown(command)}, reading stopped",
            command=command,
            output=output,
            host=host,
        )
        self.limit = limit
        self.bytes_read = limit


class CommandRefused(CommandFailed, ValueError):
    """A command that is not on the driver's allow-list; it was not sent.

    Attributes:
        command: The command as given (shown in the message with its control characters
            escaped, cut at 80 characters).
        driver: The driver it was meant for.
        reason: Why it was refused.
    """

    def __init__(self, command: str, driver: str, *, reason: str = "not allowed") -> None:
        super().__init__(
            f"command {shown(command)} refused for driver {driver!r}: {reason}", command=command
        )
        self.driver = driver
        self.reason = reason
