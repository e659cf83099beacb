"""Host keys: one secret seed in the data folder, one ed25519 key per device derived from it.

The seed (``host-keys.seed``, mode 0600) is made on the first start and read on the next ones,
so every device keeps its key across runs and a technician's known_hosts stays valid. Deriving
(HMAC-SHA256 of the seed and the device's label) costs about 0.2 ms a key: a fleet of 1,000
starts without generating or reading 1,000 files. The known_hosts file is written as OpenSSH
writes it (``[127.0.10.1]:2222 ssh-ed25519 AAAA…``, the bare address on port 22).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import asyncssh
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["SEED_FILE", "derive_key", "known_hosts_line", "load_seed", "write_known_hosts"]

SEED_FILE: Final = "host-keys.seed"


def load_seed(data_dir: Path) -> bytes:
    """The lab's host-key seed, made (0600) on first use.

    Raises:
        ValueError: When the file exists but does not hold 64 hex digits.
    """
    path = data_dir / SEED_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        seed = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(seed.hex() + "\n")
        return seed
    try:
        seed = bytes.fromhex(text)
    except ValueError:
        seed = b""
    if len(seed) != 32:
        raise ValueError(f"{path}: expected 64 hex digits (delete it to make a new one)")
    return seed


def derive_key(seed: bytes, label: str) -> asyncssh.SSHKey:
    """The ed25519 key of ``label`` (``device:<name>``, ``jump:<name>``…) under ``seed``."""
    private = hmac.new(seed, label.encode(), hashlib.sha256).digest()
    key = Ed25519PrivateKey.from_private_bytes(private)
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return asyncssh.import_private_key(data)


def known_hosts_line(address: str, port: int, key: asyncssh.SSHKey) -> str:
    """One known_hosts line, host written as OpenSSH does (``[addr]:port`` unless port 22)."""
    host = address if port == 22 else f"[{address}]:{port}"
    algorithm, blob = key.export_public_key("openssh").decode("ascii").split()[:2]
    return f"{host} {algorithm} {blob}"


def write_known_hosts(path: Path, lines: Iterable[str]) -> None:
    """Write the file whole, atomically (a reader never sees half of it)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("".join(f"{line}\n" for line in lines), encoding="ascii")
    temporary.replace(path)
