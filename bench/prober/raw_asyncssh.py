"""The floor: asyncssh used directly, one connection and one exec request per router.

Nothing but what collecting the log needs: one options object built once (password login,
the lab's known_hosts parsed once, no agent, config or default keys looked up), a semaphore
bounding the routers in flight, and the connection closed after its command.
"""

from __future__ import annotations

import asyncio

import asyncssh

from bench.prober.fleet import JUMP_USER, ROUTER_USER, Fleet, Router
from bench.prober.outcome import Outcome
from bench.prober.settings import RunSettings


def _options(
    fleet: Fleet, settings: RunSettings, *, username: str, password: str
) -> asyncssh.SSHClientConnectionOptions:
    known = asyncssh.read_known_hosts(str(fleet.known_hosts))
    return asyncssh.SSHClientConnectionOptions(
        username=username,
        password=password,
        known_hosts=known,
        config=None,
        client_keys=None,
        agent_path=None,
        gss_kex=False,
        gss_auth=False,
        host_based_auth=False,
        connect_timeout=settings.connect_timeout,
    )


async def _one(
    router: Router,
    command: str,
    options: asyncssh.SSHClientConnectionOptions,
    tunnel: asyncssh.SSHClientConnection | None,
    limit: asyncio.Semaphore,
    limit_s: float,
) -> Outcome:
    async with limit:
        try:
            async with asyncio.timeout(limit_s):
                connection = asyncssh.connect(
                    router.address, router.port, tunnel=tunnel or (), options=options
                )
                async with connection as conn:
                    result = await conn.run(command, check=False)
        except (OSError, TimeoutError, asyncssh.Error) as error:
            return Outcome(router.hostname, False, f"{type(error).__name__}: {error}")
    output = result.stdout if isinstance(result.stdout, str) else ""
    return Outcome(router.hostname, True, output=output, timezone=router.timezone)


async def collect(
    routers: tuple[Router, ...], fleet: Fleet, command: str, settings: RunSettings
) -> list[Outcome]:
    """Run ``command`` on every router, ``settings.concurrency`` at a time."""
    options = _options(fleet, settings, username=ROUTER_USER, password=settings.passwords.router)
    limit = asyncio.Semaphore(settings.concurrency)
    timeout = settings.connect_timeout + settings.command_timeout
    tunnel: asyncssh.SSHClientConnection | None = None
    if settings.via_jump:
        if fleet.jump is None:
            raise ValueError("the lab has no jump host")
        jump_options = _options(
            fleet, settings, username=JUMP_USER, password=settings.passwords.jump
        )
        tunnel = await asyncssh.connect(fleet.jump.address, fleet.jump.port, options=jump_options)
    try:
        return list(
            await asyncio.gather(
                *(_one(r, command, options, tunnel, limit, timeout) for r in routers)
            )
        )
    finally:
        if tunnel is not None:
            tunnel.close()
            await tunnel.wait_closed()
