"""The inventory's checks: what each field accepts, and the rules across entries.

Each ``parse_*`` takes the stripped text of one value (YAML and CSV alike), returns it
normalised so that re-importing an unchanged file compares equal (IP addresses compressed,
host names lower case, host keys without their comment), or raises ``ValueError`` with the
reason. :func:`build_inventory` applies them to every entry of every file, then checks
uniqueness (jump host names, site codes, hostnames, address and port) and that every jump
host a device names is defined, collecting every problem before refusing.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from vigie_common.imports.entries import Checker
from vigie_common.imports.problems import rank_problems
from vigie_common.zones import load_zone

from vigie_prober.drivers import DRIVERS
from vigie_prober.inventory import (
    DEFAULT_PORT,
    DEFAULT_TIMEZONE,
    DeviceEntry,
    Inventory,
    InventoryInvalid,
    JumpHostEntry,
    Location,
    RawEntry,
    RawInventory,
    RawSite,
    SiteEntry,
)

__all__ = [
    "build_inventory",
    "parse_address",
    "parse_driver",
    "parse_host_key",
    "parse_key",
    "parse_port",
    "parse_profile",
    "parse_text",
    "parse_timezone",
]

_NAME = re.compile(r"[^\s\x00-\x1f\x7f]+\Z")  # keys: anything printable without spaces
_PROFILE = re.compile(r"[A-Za-z0-9_.-]{1,100}\Z")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")
_PORT = re.compile(r"[0-9]{1,5}\Z")
_KEY_TYPES: Final = frozenset(
    {"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
     "ecdsa-sha2-nistp521", "ssh-ed448", "ssh-dss"}
)  # fmt: skip


def parse_key(limit: int, what: str) -> Callable[[str], str]:
    """A parser of names used as keys (hostname, site code): printable, no spaces."""

    def parse(text: str) -> str:
        if len(text) > limit or not _NAME.match(text):
            raise ValueError(f"{what} must be at most {limit} printable characters, no spaces")
        return text

    return parse


def parse_text(limit: int) -> Callable[[str], str]:
    """A parser of free text (service reference, paths): bounded, no control characters."""

    def parse(text: str) -> str:
        if len(text) > limit or any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise ValueError(f"must be at most {limit} characters, no control characters")
        return text

    return parse


def parse_address(text: str) -> str:
    """An IP address (compressed) or an RFC 1123 host name (lower case, no trailing dot)."""
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        pass
    name = text[:-1] if text.endswith(".") else text
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(x) for x in labels) or labels[-1].isdigit():
        raise ValueError(f"{text!r} is not an IP address or a host name")
    return name.lower()


def parse_port(text: str) -> int:
    """A TCP port, 1 to 65535, written in decimal."""
    if not _PORT.match(text) or not 1 <= int(text) <= 65535:
        raise ValueError(f"port must be a whole number from 1 to 65535, got {text!r}")
    return int(text)


def parse_driver(text: str) -> str:
    """A driver name of :data:`vigie_prober.drivers.DRIVERS`."""
    if text not in DRIVERS:
        raise ValueError(f"unknown driver {text!r} (known: {', '.join(sorted(DRIVERS))})")
    return text


def parse_profile(text: str) -> str:
    """A credentials profile name; the error never quotes the value (it may be a secret)."""
    if not _PROFILE.match(text):  # the value is not quoted: it may be a pasted secret
        raise ValueError(
            "must name a credentials profile (letters, digits, '_', '.', '-'; at most 100); "
            "its secrets come from the environment or a file, never from the inventory"
        )
    return text


def parse_timezone(text: str) -> str:
    """An IANA zone name the system knows (the router's clock zone)."""
    load_zone(text)  # UnknownZone: a ValueError naming the text
    return text


def parse_host_key(text: str) -> str:
    """An OpenSSH public key ``<type> <base64> [comment]``, kept without its comment."""
    parts = text.split()
    try:
        kind, blob = parts[0], base64.b64decode(parts[1], validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        valid = kind in _KEY_TYPES and blob[4 : 4 + length] == kind.encode()
    except (IndexError, binascii.Error, struct.error):
        valid = False
    if not valid:
        raise ValueError("not an OpenSSH public key ('<type> <base64>', e.g. ssh-ed25519 AAAA...)")
    return f"{parts[0]} {parts[1]}"


def _jump_host(check: Checker, entry: RawEntry) -> JumpHostEntry | None:
    name = check.required(entry, "name", parse_key(100, "a jump host name"))
    address = check.required(entry, "address", parse_address)
    port = check.optional(entry, "port", parse_port, DEFAULT_PORT)
    credentials = check.required(entry, "credentials", parse_profile)
    known_hosts = check.optional(entry, "known_hosts", parse_text(1024))
    if name is None or address is None or port is None or credentials is None:
        return None
    return JumpHostEntry(name, address, port, credentials, known_hosts)


def _device(check: Checker, entry: RawEntry, site: str) -> DeviceEntry | None:
    hostname = check.required(entry, "hostname", parse_key(253, "a hostname"))
    address = check.required(entry, "address", parse_address)
    port = check.optional(entry, "port", parse_port, DEFAULT_PORT)
    driver = check.required(entry, "driver", parse_driver)
    credentials = check.required(entry, "credentials", parse_profile)
    jump_host = check.optional(entry, "jump_host", parse_key(100, "a jump host name"))
    timezone = check.optional(entry, "timezone", parse_timezone, DEFAULT_TIMEZONE)
    known_hosts = check.optional(entry, "known_hosts", parse_text(1024))
    host_key = check.optional(entry, "host_key", parse_host_key)
    if hostname is None or address is None or port is None or driver is None:
        return None
    if credentials is None or timezone is None:
        return None  # (any problem refuses the whole file: None here only skips the entry)
    return DeviceEntry(
        hostname, site, address, port, driver, credentials, jump_host, timezone, known_hosts,
        host_key,
    )  # fmt: skip


@dataclass
class _Builder:
    """The entries kept so far and the keys they claimed, for duplicate checks."""

    check: Checker = field(default_factory=Checker)
    jump_hosts: list[JumpHostEntry] = field(default_factory=list)
    sites: list[SiteEntry] = field(default_factory=list)
    devices: list[DeviceEntry] = field(default_factory=list)
    names: dict[str, Location] = field(default_factory=dict)
    codes: dict[str, Location] = field(default_factory=dict)
    hostnames: dict[str, Location] = field(default_factory=dict)
    endpoints: dict[tuple[str, int, str | None], tuple[str, Location]] = field(default_factory=dict)

    def add_jump_host(self, entry: RawEntry) -> None:
        jump_host = _jump_host(self.check, entry)
        name = entry.get("name")  # claimed even when the entry is wrong: devices may name it
        if name is not None and self.check.unique(self.names, name, entry.at("name"), "jump host"):
            self.jump_hosts.extend([jump_host] if jump_host else [])

    def add_site(self, site: RawSite) -> None:
        code = self.check.required(site.entry, "code", parse_key(100, "a site code"))
        reference = self.check.optional(site.entry, "service_reference", parse_text(200))
        if not site.devices:
            self.check.add(site.devices_at, "a site needs at least one device")
        if code is not None and self.check.unique(
            self.codes, code, site.entry.at("code"), "site code"
        ):
            self.sites.append(SiteEntry(code, reference))
        else:
            code = None  # its devices are still checked, so one run shows every problem
        for entry in site.devices:
            self.add_device(entry, code)

    def add_device(self, entry: RawEntry, site: str | None) -> None:
        device = _device(self.check, entry, site or "")
        jump_host = entry.get("jump_host")
        if jump_host is not None and jump_host not in self.names:
            defined = ", ".join(sorted(self.names))
            message = f"jump host {jump_host!r} is not defined " + (
                f"(defined: {defined})"
                if defined
                else "(none is: give a YAML file or a jump-host CSV too)"
            )
            self.check.add(entry.at("jump_host"), message)
        hostname = entry.get("hostname")
        if hostname is not None and not self.check.unique(
            self.hostnames, hostname, entry.at("hostname"), "hostname"
        ):
            return
        if device is None or site is None:
            return
        # Two devices reached the same way are one router written twice.
        endpoint = (device.address, device.port, device.jump_host)
        if endpoint in self.endpoints:
            other, first = self.endpoints[endpoint]
            message = f"same address and port as device {other!r} (at {entry.where.near(first)})"
            self.check.add(entry.at("address"), message)
            return
        self.endpoints[endpoint] = (device.hostname, entry.at("address"))
        self.devices.append(device)


def build_inventory(raws: Sequence[RawInventory]) -> Inventory:
    """Check every entry of every file and assemble one inventory.

    Args:
        raws: What each file's reader produced, in the order the files were given.

    Returns:
        The inventory, its entries in file order.

    Raises:
        InventoryInvalid: Listing every problem: readers' (syntax, unknown keys, secrets),
            wrong values, duplicate names, codes, hostnames or addresses, undefined jump hosts.
    """
    builder = _Builder()
    for raw in raws:  # every file's jump hosts first: a device may name one from another file
        builder.check.problems.extend(raw.problems)
        for entry in raw.jump_hosts:
            builder.add_jump_host(entry)
    for raw in raws:
        for site in raw.sites:
            builder.add_site(site)
    if builder.check.problems:
        raise InventoryInvalid(rank_problems(builder.check.problems, [raw.file for raw in raws]))
    return Inventory(tuple(builder.jump_hosts), tuple(builder.sites), tuple(builder.devices))
