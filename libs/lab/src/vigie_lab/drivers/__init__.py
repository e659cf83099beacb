"""The simulated routers' CLIs, by driver name (the names the prober's drivers use)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from vigie_lab.drivers.base import Personality
from vigie_lab.drivers.cisco_ios import CiscoIos
from vigie_lab.drivers.rad_etx import RadEtx

__all__ = ["PERSONALITIES", "Personality"]

PERSONALITIES: Final[Mapping[str, Personality]] = MappingProxyType(
    {"rad_etx": RadEtx(), "cisco_ios": CiscoIos()}
)
