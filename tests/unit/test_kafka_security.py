import ssl

import pytest

from infra.kafka import aiokafka_options, ssl_context
from stockflow.config import Settings


def test_plaintext_has_no_tls_or_sasl():
    assert aiokafka_options(Settings()) == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_passes_credentials_and_a_verifying_context():
    s = Settings(
        kafka_security_protocol="sasl_ssl",
        kafka_sasl_mechanism="scram-sha-512",
        kafka_sasl_username="wh",
        kafka_sasl_password="pw",
    )
    found = aiokafka_options(s)
    assert found["security_protocol"] == "SASL_SSL" and found["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (found["sasl_plain_username"], found["sasl_plain_password"]) == ("wh", "pw")
    assert found["ssl_context"].verify_mode == ssl.CERT_REQUIRED and found["ssl_context"].check_hostname


def test_sasl_without_a_password_and_an_unknown_protocol_are_configuration_errors():
    with pytest.raises(ValueError, match="SASL needs"):
        aiokafka_options(Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="x"))
    with pytest.raises(ValueError, match="one of"):
        ssl_context(Settings(kafka_security_protocol="TLS"))
