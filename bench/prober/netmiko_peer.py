"""Netmiko, threads: one ``ConnectHandler`` per router in a thread pool, as its users write it.

``device_type="generic"``: netmiko's ``rad_etx`` class types ``config term length 0`` (which
the lab's ETX refuses) and sleeps 0.6 s per login; the generic class sends nothing but the
command, which is netmiko at its fastest. ``send_command`` reads up to the ETX prompt.
Paramiko would parse the whole known_hosts file (one line per router) at every login, so the
host key is not checked (``ssh_strict=False``): both choices can only make netmiko faster.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from netmiko import ConnectHandler

from bench.prober.fleet import ROUTER_USER, Fleet, Router
from bench.prober.outcome import Outcome
from bench.prober.settings import RunSettings

ETX_PROMPT: Final = r"ETX203AM\.[\w.\-]+#"
"""The lab's ETX prompt, as netmiko searches its buffer (no anchors: no MULTILINE flag)."""


def _one(router: Router, command: str, device: dict[str, Any], read_timeout: float) -> Outcome:
    try:
        with ConnectHandler(host=router.address, port=router.port, **device) as conn:
            output = conn.send_command(command, expect_string=ETX_PROMPT, read_timeout=read_timeout)
    except Exception as error:  # noqa: BLE001 - netmiko lets paramiko's and socket errors through
        return Outcome(router.hostname, False, f"{type(error).__name__}: {error}")
    text = output if isinstance(output, str) else str(output)
    return Outcome(router.hostname, True, output=text, timezone=router.timezone)


def collect(
    routers: tuple[Router, ...], fleet: Fleet, command: str, settings: RunSettings
) -> list[Outcome]:
    """Run ``command`` on every router, ``settings.workers`` threads at a time."""
    if settings.via_jump:
        raise ValueError("the Netmiko peer runs direct only")
    device: dict[str, Any] = {
        "device_type": "generic",
        "username": ROUTER_USER,
        "password": settings.passwords.router,
        "use_keys": False,
        "allow_agent": False,
        "ssh_strict": False,
        "system_host_keys": False,
        "alt_host_keys": False,
        "fast_cli": True,
        "conn_timeout": settings.connect_timeout,
        "auth_timeout": settings.connect_timeout,
        "banner_timeout": settings.connect_timeout,
    }
    with ThreadPoolExecutor(max_workers=settings.workers) as pool:
        futures = [pool.submit(_one, r, command, device, settings.command_timeout) for r in routers]
        return [future.result() for future in futures]
