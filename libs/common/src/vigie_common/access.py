"""Who may read a service's data: the bearer read token every service's GET endpoints share.

Ticket data names customers and carries their tickets' raw bodies, so reads are never open in
prod: with ``VIGIE_READ_TOKEN`` (or ``VIGIE_<SERVICE>_READ_TOKEN``) set, a request must carry
``Authorization: Bearer <it>``; without one, prod refuses every read and says which variable
to set. Dev and test without a token stay open, for the embedded run and the tests.
"""

from __future__ import annotations

import hmac

from pydantic import SecretStr

from vigie_common.signatures import bearer_token

__all__ = ["ReadDenied", "check_read_access"]


class ReadDenied(Exception):
    """A read refused; ``status`` is 401 (no or wrong token) or 403 (reads disabled)."""

    def __init__(self, reason: str, *, status: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def check_read_access(authorization: str | None, *, token: SecretStr | None, env: str) -> None:
    """Let a read through, or raise :class:`ReadDenied` saying what is missing.

    Args:
        authorization: The request's ``Authorization`` header, ``None`` when absent.
        token: The configured read token, ``None`` when unset.
        env: ``prod``, ``dev`` or ``test``: without a token only prod refuses.

    Raises:
        ReadDenied: 403 in prod without a configured token; 401 when the header is missing,
            malformed or carries another token. The reason never quotes a token.
    """
    if token is None:
        if env == "prod":
            raise ReadDenied(
                "reads are disabled: no read token is configured "
                "(the operator sets VIGIE_READ_TOKEN)",
                status=403,
            )
        return
    given = bearer_token(authorization)
    if given is None:
        raise ReadDenied("this endpoint needs Authorization: Bearer <read token>", status=401)
    if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
        raise ReadDenied("read token not recognised", status=401)
