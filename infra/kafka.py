"""How every Kafka client of this installation connects: PLAINTEXT, TLS, SASL or both.

One place turns the settings (`STOCKFLOW_KAFKA_SECURITY_PROTOCOL`, `..._SASL_*`, `..._SSL_*`)
into client options, so the workers, the topic admin, the simulator and any tool connect alike.
The embedded broker speaks PLAINTEXT on the loopback only."""

from __future__ import annotations

import ssl
from typing import Any

from stockflow.config import Settings

PROTOCOLS = frozenset({"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"})


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """A TLS context that checks the brokers' certificates (and presents ours, for mutual TLS);
    None when the protocol has no TLS."""
    protocol = settings.kafka_security_protocol.upper()
    if protocol not in PROTOCOLS:
        raise ValueError(f"kafka_security_protocol {protocol!r}: one of {sorted(PROTOCOLS)}")
    if "SSL" not in protocol:
        return None
    context = ssl.create_default_context(
        cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    )
    if settings.kafka_ssl_certfile:
        context.load_cert_chain(
            str(settings.kafka_ssl_certfile),
            str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
        )
    return context


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka's producer, consumer and admin client."""
    protocol = settings.kafka_security_protocol.upper()
    options: dict[str, Any] = {"security_protocol": protocol}
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if protocol.startswith("SASL"):
        if not settings.kafka_sasl_username or settings.kafka_sasl_password is None:
            raise ValueError("SASL needs STOCKFLOW_KAFKA_SASL_USERNAME and STOCKFLOW_KAFKA_SASL_PASSWORD")
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism.upper(),
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password,
        )
    return options
