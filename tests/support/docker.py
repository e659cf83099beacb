"""Is a Docker engine answering? testcontainers is used only when it is."""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse


@functools.cache
def docker_available() -> bool:
    """True when the engine at ``DOCKER_HOST`` (or the default socket) answers ``/_ping``."""
    target = urlparse(os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"))
    try:
        if target.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: object = target.path
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = (target.hostname or "127.0.0.1", target.port or 2375)
        with sock:
            sock.settimeout(2)
            sock.connect(address)  # type: ignore[arg-type]
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b" 200 " in sock.recv(64)
    except OSError:
        return False
