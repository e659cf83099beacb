"""Reading the lab's passwords from the environment or files named by the scenario."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

from vigie_lab.errors import CredentialsMissing

__all__ = ["DEV_PASSWORDS", "JUMP_PASSWORD_ENV", "ROUTER_PASSWORD_ENV", "read_password"]

ROUTER_PASSWORD_ENV: Final = "VIGIE_LAB_ROUTER_PASSWORD"  # noqa: S105 - a variable's name
JUMP_PASSWORD_ENV: Final = "VIGIE_LAB_JUMP_PASSWORD"  # noqa: S105 - a variable's name
DEV_PASSWORDS: Final = {
    ROUTER_PASSWORD_ENV: "vigie-lab-dev",
    JUMP_PASSWORD_ENV: "vigie-lab-dev-rebond",
}
"""Development passwords of the shipped scenarios, documented as such. Only the ``vigie-lab
run`` command falls back on them, when the variable is unset; the Python API never does (a test
passes its own ``env``)."""


def read_password(
    where: str, *, variable: str | None, file: Path | None, env: Mapping[str, str]
) -> str:
    """The password from ``env[variable]`` or from ``file`` (its first line).

    Raises:
        CredentialsMissing: The variable is unset or empty, or the file unreadable or empty;
            the message names the variable or file, never a value.
    """
    if variable is not None:
        value = env.get(variable, "")
        if not value:
            raise CredentialsMissing(where, f"environment variable {variable} is unset")
        return value
    if file is None:
        raise CredentialsMissing(where, "no password_env nor password_file")
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise CredentialsMissing(where, f"file {file}: {error.strerror}") from None
    if not lines or not lines[0]:
        raise CredentialsMissing(where, f"file {file} is empty")
    return lines[0]
