"""The data folder of an embedded run: logs, SQLite files, the lab, its sinks' messages, secrets."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

SECRET_FILE: Final = "webhook-secret"  # noqa: S105 - a file name, not a secret
READ_TOKEN_FILE: Final = "read-token"  # noqa: S105 - a file name, not a token
LAB_DIR: Final = "lab"
LAB_ROUTER_PASSWORD_FILE: Final = "lab-router-password"  # noqa: S105 - a file name
LAB_JUMP_PASSWORD_FILE: Final = "lab-jump-password"  # noqa: S105 - a file name
MAIL_DIR: Final = "mail"
SMS_DIR: Final = "sms"
SMS_TOKEN_FILE: Final = "sms-token"  # noqa: S105 - a file name, not a token
CONTACTS_FILE: Final = "contacts.yaml"
_SECRET_SHAPE: Final = re.compile(r"[A-Za-z0-9_-]{16,200}")
"""What ``secrets.token_urlsafe`` writes; ``;``, ``|`` and ``=`` would break the variable."""


class SecretFileError(RuntimeError):
    """A secret file (webhook secret, read token, lab password) is missing or unusable."""


@dataclass(frozen=True, slots=True)
class LabPasswords:
    """The lab's passwords; kept out of ``repr`` so that no error or log line can show them."""

    router: str = field(repr=False)
    jump: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class DataDir:
    """Where one embedded run keeps its files (an absolute path)."""

    root: Path

    @classmethod
    def at(cls, path: str | Path) -> DataDir:
        """The data folder at ``path``, made absolute (the services run from elsewhere)."""
        return cls(Path(path).expanduser().resolve())

    @property
    def logs(self) -> Path:
        """The folder of every process's log file."""
        return self.root / "logs"

    @property
    def secret_file(self) -> Path:
        """The dev webhook secret, shared by every source (mode 0600)."""
        return self.root / SECRET_FILE

    @property
    def read_token_file(self) -> Path:
        """The dev read token of every service's GET endpoints (mode 0600)."""
        return self.root / READ_TOKEN_FILE

    @property
    def lab_dir(self) -> Path:
        """The lab's own data folder: host key seed, known_hosts, the inventory it writes."""
        return self.root / LAB_DIR

    @property
    def lab_router_password_file(self) -> Path:
        """The lab routers' password (user vigie), mode 0600: the lab and the prober read it."""
        return self.root / LAB_ROUTER_PASSWORD_FILE

    @property
    def lab_jump_password_file(self) -> Path:
        """The lab jump host's password (user tech), mode 0600."""
        return self.root / LAB_JUMP_PASSWORD_FILE

    @property
    def mail_dir(self) -> Path:
        """Where the lab's SMTP sink keeps every mail the notifier sends, one ``.eml`` each."""
        return self.root / MAIL_DIR

    @property
    def sms_dir(self) -> Path:
        """Where the lab's SMS gateway sink keeps every SMS, one ``.json`` each."""
        return self.root / SMS_DIR

    @property
    def sms_token_file(self) -> Path:
        """The SMS sink's bearer token (mode 0600): made by the lab, read by the notifier."""
        return self.root / SMS_TOKEN_FILE

    @property
    def contacts_file(self) -> Path:
        """The dev contacts of the sample's customer (mode 0600), imported by the notifier."""
        return self.root / CONTACTS_FILE

    def log_file(self, name: str) -> Path:
        """``logs/<name>.log``: stdout and stderr of one process."""
        return self.logs / f"{name}.log"

    def database(self, service: str) -> Path:
        """The SQLite file a service owns."""
        return self.root / f"{service}.db"

    def database_url(self, service: str) -> str:
        """The SQLAlchemy URL of :meth:`database` (absolute path)."""
        return f"sqlite+aiosqlite:///{self.database(service)}"

    def prepare(self) -> None:
        """Create the data and log folders."""
        self.logs.mkdir(parents=True, exist_ok=True)


def _read(path: Path, what: str) -> str:
    """A secret vigie wrote at ``path``; ``what`` names it in the errors."""
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise SecretFileError(
            f"no {what} in {path}: start vigie with `make run` (same --data-dir) first"
        ) from None
    except OSError as exc:
        raise SecretFileError(f"cannot read {path}: {exc.strerror}") from None
    if not _SECRET_SHAPE.fullmatch(value):
        raise SecretFileError(f"{path} does not hold a usable {what}: delete it to get a new one")
    return value


def _load_or_create(path: Path, what: str) -> str:
    """The secret at ``path``, generated on the first run (mode 0600, kept across restarts)."""
    if not path.exists():
        value = secrets.token_urlsafe(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _read(path, what)  # another run created it meanwhile
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(value + "\n")
        return value
    path.chmod(0o600)
    return _read(path, what)


def read_secret(data: DataDir) -> str:
    """The dev webhook secret written by ``vigie up``.

    Raises:
        SecretFileError: When the file is missing, unreadable or not a secret vigie wrote.
    """
    return _read(data.secret_file, "webhook secret")


def load_or_create_secret(data: DataDir) -> str:
    """Return the dev webhook secret, generating it on the first run (kept across restarts).

    Raises:
        SecretFileError: When the file exists but does not hold a secret vigie wrote.
    """
    return _load_or_create(data.secret_file, "webhook secret")


def load_or_create_read_token(data: DataDir) -> str:
    """Return the dev read token, generating it on the first run (kept across restarts).

    Raises:
        SecretFileError: When the file exists but does not hold a token vigie wrote.
    """
    return _load_or_create(data.read_token_file, "read token")


def load_or_create_lab_passwords(data: DataDir) -> LabPasswords:
    """Return the lab's router and jump host passwords, generated on the first run.

    Random rather than the lab's documented development passwords, so that the lab of a dev
    run is not open to anyone who read the README; kept across restarts like the read token.

    Raises:
        SecretFileError: When a file exists but does not hold a password vigie wrote.
    """
    return LabPasswords(
        router=_load_or_create(data.lab_router_password_file, "lab router password"),
        jump=_load_or_create(data.lab_jump_password_file, "lab jump host password"),
    )
