"""The vendor drivers: which read-only commands each CLI gets, and how its output is read.

One module per vendor, each holding a class that satisfies :class:`~.base.Driver`; this
registry maps the inventory's driver name to its instance. Adding a vendor is one module and
one line below, plus its commands in :data:`vigie_prober.allowlist.ALLOWED`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from vigie_prober.drivers.base import Driver
from vigie_prober.drivers.cisco_ios import CiscoIos
from vigie_prober.drivers.rad_etx import RadEtx

__all__ = ["DRIVERS", "Driver", "UnknownDriver", "get_driver"]

DRIVERS: Final[Mapping[str, Driver]] = MappingProxyType(
    {driver.name: driver for driver in (RadEtx(), CiscoIos())}
)
"""Driver name → driver, read-only."""


class UnknownDriver(LookupError):
    """No driver has this name (a typo in the inventory or on the command line)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.known = tuple(sorted(DRIVERS))
        super().__init__(f"unknown driver {name!r}; known drivers: {', '.join(self.known)}")


def get_driver(name: str) -> Driver:
    """Find a driver by its name.

    Args:
        name: The driver's name, e.g. ``rad_etx`` or ``cisco_ios``.

    Returns:
        The driver.

    Raises:
        UnknownDriver: No driver has that name; the error lists the known ones.
    """
    try:
        return DRIVERS[name]
    except KeyError:
        raise UnknownDriver(name) from None
