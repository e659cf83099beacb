"""Scrapli, asyncio: ``AsyncGenericDriver`` on its asyncssh transport, as its users write it.

One driver per router (``async with`` opens it: SSH login, an interactive shell), then
``send_command`` reads up to the ETX prompt ``ETX203AM.<HOST>#``. Host keys are checked by
asyncssh against the lab's known_hosts, parsed once and handed in ``transport_options``
(scrapli's own check only knows port 22 entries, so it is off).

Two adaptations to the lab's shell, on the peer's side: the lab echoes a typed line once it is
whole, not key by key as scrapli waits for, so the command goes with ``eager_input=True``;
and since scrapli then no longer reads up to its own echo, ``on_open`` reads the prompt the
shell prints at login (scrapli's default ``get_prompt`` would leave a second prompt behind,
which ``send_command`` would take for the end of an empty output).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import asyncssh
from scrapli.driver.generic import AsyncGenericDriver
from scrapli.exceptions import ScrapliException

from bench.prober.fleet import ROUTER_USER, Fleet, Router
from bench.prober.outcome import Outcome
from bench.prober.settings import RunSettings

ETX_PROMPT: Final = r"^ETX203AM\.[\w.\-]+#\s*$"
"""The lab's RAD ETX-203AM prompt, ``ETX203AM.<HOST>#`` (``vigie_lab.drivers.rad_etx``)."""


async def _login_prompt(conn: AsyncGenericDriver) -> None:
    """Read up to the prompt the shell prints at login, sending nothing."""
    await conn.channel._read_until_prompt()


async def _one(
    router: Router, command: str, device: dict[str, Any], limit: asyncio.Semaphore
) -> Outcome:
    async with limit:
        try:
            async with AsyncGenericDriver(host=router.address, port=router.port, **device) as conn:
                response = await conn.send_command(command, eager_input=True)
        except (ScrapliException, OSError, TimeoutError, asyncssh.Error) as error:
            return Outcome(router.hostname, False, f"{type(error).__name__}: {error}")
    if response.failed:
        return Outcome(router.hostname, False, f"failed response: {response.result[:100]}")
    return Outcome(router.hostname, True, output=response.result, timezone=router.timezone)


async def collect(
    routers: tuple[Router, ...], fleet: Fleet, command: str, settings: RunSettings
) -> list[Outcome]:
    """Run ``command`` on every router, ``settings.concurrency`` at a time."""
    if settings.via_jump:
        raise ValueError("the Scrapli peer runs direct only")
    known = asyncssh.read_known_hosts(str(fleet.known_hosts))
    device: dict[str, Any] = {
        "auth_username": ROUTER_USER,
        "auth_password": settings.passwords.router,
        "auth_strict_key": False,
        "transport": "asyncssh",
        "transport_options": {
            "asyncssh": {"known_hosts": known, "config": None, "client_keys": None}
        },
        "comms_prompt_pattern": ETX_PROMPT,
        "on_open": _login_prompt,
        "timeout_socket": settings.connect_timeout,
        "timeout_transport": settings.command_timeout,
        "timeout_ops": settings.command_timeout,
    }
    limit = asyncio.Semaphore(settings.concurrency)
    return list(await asyncio.gather(*(_one(r, command, device, limit) for r in routers)))
