"""Kafka TLS and SASL: the aiokafka options that the producer, consumers and admin client share.

The settings refuse an incomplete combination at start-up (a SASL user without a password,
a key without its certificate, an unreadable file); here the files are loaded. A secret goes
only into the options aiokafka needs, never into a log line, a repr or an error message.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from vigie_common.logs import redact
from vigie_common.settings import ServiceSettings

__all__ = ["ClientOptions", "KafkaSecurityError", "security_options", "ssl_context"]


class KafkaSecurityError(ValueError):
    """The TLS material cannot be loaded; the message names the variable to fix."""


class ClientOptions(dict[str, Any]):
    """Keyword arguments of an aiokafka client, whose repr hides the SASL password."""

    def __repr__(self) -> str:
        return f"ClientOptions({redact(dict(self))!r})"


def security_options(settings: ServiceSettings) -> dict[str, Any]:
    """``security_protocol`` and, as the protocol needs, ``ssl_context`` and the SASL options."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in {"SSL", "SASL_SSL"}:
        options["ssl_context"] = ssl_context(settings)
    if protocol in {"SASL_PLAINTEXT", "SASL_SSL"}:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = _sasl_password(settings)
    return options


def ssl_context(settings: ServiceSettings) -> ssl.SSLContext:
    """A client context that verifies the brokers (name and chain), with mutual TLS if set.

    Raises:
        KafkaSecurityError: a file is not PEM, or the key does not open with its password.
    """
    cafile = settings.kafka_ssl_cafile
    try:
        context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    except (ssl.SSLError, OSError) as exc:
        raise KafkaSecurityError(f"VIGIE_KAFKA_SSL_CAFILE: cannot load {cafile}: {exc}") from None
    certfile, keyfile = settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile
    if certfile is None:
        return context
    password_file = settings.kafka_ssl_key_password_file
    password = _read_secret(password_file) if password_file else None
    try:
        context.load_cert_chain(str(certfile), str(keyfile) if keyfile else None, password)
    except (ssl.SSLError, OSError) as exc:
        raise KafkaSecurityError(
            "VIGIE_KAFKA_SSL_CERTFILE / VIGIE_KAFKA_SSL_KEYFILE / "
            f"VIGIE_KAFKA_SSL_KEY_PASSWORD_FILE: cannot load the client certificate: {exc}"
        ) from None
    return context


def _sasl_password(settings: ServiceSettings) -> str:
    if settings.kafka_sasl_password is not None:
        return settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_sasl_password_file is not None:
        return _read_secret(settings.kafka_sasl_password_file)
    raise KafkaSecurityError("VIGIE_KAFKA_SASL_PASSWORD or VIGIE_KAFKA_SASL_PASSWORD_FILE is unset")


def _read_secret(path: Path) -> str:
    """The file's text without the newline an editor or ``echo`` leaves at its end."""
    return path.read_text(encoding="utf-8").rstrip("\r\n")
