"""Credentials profiles: the inventory names a profile, its secrets come from the environment.

A device or jump host of the inventory says ``credentials: lab-router``; the prober reads that
profile when it logs in, from variables named after it (the name upper-cased, every run of
other characters than letters and digits made one ``_``: ``lab-router`` → ``LAB_ROUTER``)::

    VIGIE_PROBER_CREDENTIALS__LAB_ROUTER__USERNAME            the login (or __USERNAME_FILE)
    VIGIE_PROBER_CREDENTIALS__LAB_ROUTER__PASSWORD            its password (or __PASSWORD_FILE)
    VIGIE_PROBER_CREDENTIALS__LAB_ROUTER__KEY_FILE            a private key file, instead or too
    VIGIE_PROBER_CREDENTIALS__LAB_ROUTER__PASSPHRASE          the key's passphrase (or _FILE)
    VIGIE_PROBER_CREDENTIALS__LAB_ROUTER__TRUST_ON_FIRST_USE  true: accept and record the key
                                                              of a host known_hosts lacks

A ``*_FILE`` variable names a file whose first line is the value (a mounted secret). A value
is read at each login, so a rotated secret file is picked up without a restart. Secrets are
kept as ``SecretStr``: no repr, log line or error shows them, and an error names the variables
to set, never a value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import SecretStr

from vigie_prober.errors import CredentialsMissing

__all__ = ["PREFIX", "CredentialStore", "Credentials", "profile_key", "variable"]

PREFIX: Final = "VIGIE_PROBER_CREDENTIALS__"
_OTHER: Final = re.compile(r"[^A-Za-z0-9]+")
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"", "0", "false", "no", "off"})


def profile_key(profile: str) -> str:
    """The profile's name as variables spell it: ``lab-router`` → ``LAB_ROUTER``."""
    return _OTHER.sub("_", profile).strip("_").upper()


def variable(profile: str, field: str) -> str:
    """The variable holding ``field`` (``USERNAME``…) of ``profile``."""
    return f"{PREFIX}{profile_key(profile)}__{field}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """One profile's login; the password and passphrase never show in its repr.

    Attributes:
        profile: The profile's name, as the inventory gives it.
        username: The login.
        password: The password, if the profile has one.
        key_file: A private key file, if the profile has one.
        passphrase: The key's passphrase, if it is encrypted.
        trust_on_first_use: Accept (and record) the key of a host known_hosts does not list.
    """

    profile: str
    username: str
    password: SecretStr | None = None
    key_file: Path | None = None
    passphrase: SecretStr | None = None
    trust_on_first_use: bool = False

    def __repr__(self) -> str:
        password = "None" if self.password is None else "'**********'"
        return (
            f"Credentials(profile={self.profile!r}, username={self.username!r}, "
            f"password={password}, key_file={self.key_file!r}, "
            f"trust_on_first_use={self.trust_on_first_use})"
        )

    __str__ = __repr__


class CredentialStore:
    """Looks profiles up in an environment (the process's by default) and the files it names."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        """Read profiles from ``env``, or from ``os.environ`` (read at each lookup) when None."""
        self._env: Mapping[str, str] = os.environ if env is None else env

    def __repr__(self) -> str:
        return f"CredentialStore(profiles={sorted(self.configured())!r})"

    def configured(self) -> set[str]:
        """The profile keys (``LAB_ROUTER``) some variable mentions."""
        return {
            name[len(PREFIX) :].partition("__")[0]
            for name in self._env
            if name.startswith(PREFIX) and "__" in name[len(PREFIX) :]
        }

    def get(self, profile: str) -> Credentials:
        """The profile's credentials, read now.

        Args:
            profile: The profile's name, as the inventory gives it.

        Returns:
            Its username and password, key file or both.

        Raises:
            CredentialsMissing: The profile has no username, or neither password nor key, or a
                file it names cannot be read, or a flag is not a boolean; the error names the
                variables to set, never a value.
        """
        if not profile_key(profile):
            raise CredentialsMissing(profile, (), problem="the name has no letter nor digit")
        username = self._value(profile, "USERNAME")
        if username is None:
            raise self._missing(profile, "no username", "USERNAME", "USERNAME_FILE")
        password = self._value(profile, "PASSWORD")
        key_file = self._env.get(variable(profile, "KEY_FILE"), "").strip()
        if password is None and not key_file:
            raise self._missing(
                profile, "no password nor key", "PASSWORD", "PASSWORD_FILE", "KEY_FILE"
            )
        passphrase = self._value(profile, "PASSPHRASE")
        return Credentials(
            profile=profile,
            username=username,
            password=SecretStr(password) if password is not None else None,
            key_file=Path(key_file) if key_file else None,
            passphrase=SecretStr(passphrase) if passphrase is not None else None,
            trust_on_first_use=self._flag(profile, "TRUST_ON_FIRST_USE"),
        )

    def _missing(self, profile: str, problem: str, *fields: str) -> CredentialsMissing:
        names = tuple(variable(profile, field) for field in fields)
        return CredentialsMissing(profile, names, problem=f"{problem}: set {' or '.join(names)}")

    def _value(self, profile: str, field: str) -> str | None:
        """``<field>`` or the first line of the file ``<field>_FILE`` names; None if neither."""
        direct, via = variable(profile, field), variable(profile, f"{field}_FILE")
        value, path = self._env.get(direct, ""), self._env.get(via, "").strip()
        if value and path:
            raise CredentialsMissing(
                profile, (direct, via), problem=f"set {direct} or {via}, not both"
            )
        if value:
            return value
        if not path:
            return None
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            cause = error.strerror if isinstance(error, OSError) else "not UTF-8"
            raise CredentialsMissing(
                profile, (via,), problem=f"the file {via} names cannot be read ({cause})"
            ) from None
        if not lines or not lines[0]:
            raise CredentialsMissing(profile, (via,), problem=f"the file {via} names is empty")
        return lines[0]

    def _flag(self, profile: str, field: str) -> bool:
        name = variable(profile, field)
        text = self._env.get(name, "").strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise CredentialsMissing(profile, (name,), problem=f"{name} must be true or false")
