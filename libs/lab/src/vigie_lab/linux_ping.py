"""The jump host's ``ping``: iputils' options and output, for the lab's addresses. Pure."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["PingRequest", "parse_ping", "render_ping"]

_USAGE = "ping: usage error: Destination address required"


@dataclass(frozen=True)
class PingRequest:
    """``ping [-c N] [-W S] [-w S] [-i S] [-n] [-q] <address>``, read."""

    target: str
    count: int = 5
    quiet: bool = False


def parse_ping(words: list[str]) -> PingRequest | str:
    """Read the words after ``ping``; an error text (as iputils prints it) when unusable."""
    count, quiet, targets = 5, False, []
    items = iter(words)
    for word in items:
        if word in ("-c", "-W", "-w", "-i"):
            value = next(items, None)
            if value is None:
                return f"ping: option requires an argument -- '{word[1]}'"
            try:
                number = float(value)
            except ValueError:
                return f"ping: invalid argument: '{value}'"
            if word == "-c":
                if not number.is_integer() or not 1 <= number <= 1000:
                    return f"ping: invalid argument: '{value}': out of range: 1 <= value <= 1000"
                count = int(number)
        elif word in ("-n", "-q"):
            quiet = quiet or word == "-q"
        elif word.startswith("-"):
            return f"ping: invalid option -- '{word.lstrip('-')[:1]}'"
        else:
            targets.append(word)
    if len(targets) != 1:
        return _USAGE
    return PingRequest(target=targets[0], count=count, quiet=quiet)


def _ms(value: float) -> str:
    """A reply's time as iputils prints it: 3 significant digits."""
    if value < 1:
        return f"{value:.3f}"
    if value < 10:
        return f"{value:.2f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:.0f}"


def render_ping(
    request: PingRequest, *, rtt_ms: float | None, rng: random.Random
) -> tuple[str, int]:
    """The output and exit status of ``ping`` for a host answering in about ``rtt_ms``.

    ``rtt_ms`` None means nothing answers: 100% loss, status 1.
    """
    target, count = request.target, request.count
    lines = [f"PING {target} ({target}) 56(84) bytes of data."]
    times = (
        []
        if rtt_ms is None
        else [max(0.05, rng.gauss(rtt_ms, rtt_ms * 0.02)) for _ in range(count)]
    )
    if not request.quiet:
        lines += [
            f"64 bytes from {target}: icmp_seq={seq} ttl=60 time={_ms(value)} ms"
            for seq, value in enumerate(times, 1)
        ]
    elapsed = (count - 1) * 1000 + rng.randint(2, 90)
    lines += ["", f"--- {target} ping statistics ---"]
    loss = 100 * (count - len(times)) // count
    lines.append(
        f"{count} packets transmitted, {len(times)} received, {loss}% packet loss, time {elapsed}ms"
    )
    if times:
        mean = sum(times) / len(times)
        mdev = math.sqrt(sum((t - mean) ** 2 for t in times) / len(times))
        lines.append(
            f"rtt min/avg/max/mdev = {min(times):.3f}/{mean:.3f}/{max(times):.3f}/{mdev:.3f} ms"
        )
    return "\n".join(lines) + "\n" + ("" if times else "\n"), 0 if times else 1
