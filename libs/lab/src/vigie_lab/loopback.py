"""The one rule every lab listener keeps: loopback addresses only, never a routable one."""

from __future__ import annotations

import ipaddress

__all__ = ["require_loopback"]


def require_loopback(where: str, host: str) -> None:
    """Refuse to listen anywhere but loopback: the lab's sinks take unauthenticated traffic.

    Raises:
        ValueError: ``host`` is neither ``localhost`` nor a loopback address.
    """
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{where}: {host!r} is not an IP address (loopback only)") from None
    if not address.is_loopback:
        raise ValueError(f"{where}: {host} is not a loopback address (the lab listens there only)")
