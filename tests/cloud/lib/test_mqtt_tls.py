"""TLS of the cloud's MQTT connections (bridge, account API): roots and a client certificate."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from pydantic import SecretStr, ValidationError

from cloud.fleet.broker import BrokerAdminSettings
from cloud.ingest.bridge import MqttBridgeSettings
from cloud.lib.mqtt_tls import MqttTlsSettings

# Both connections of the cloud to the broker take the same TLS settings.
CONNECTIONS: dict[str, dict[str, Any]] = {
    "bridge": {"model": MqttBridgeSettings, "host": "broker"},
    "account API": {
        "model": BrokerAdminSettings,
        "host": "broker",
        "username": "admin",
        "password": SecretStr("x"),
    },
}


@pytest.mark.parametrize("connection", CONNECTIONS)
def test_a_client_certificate_goes_into_the_tls_handshake(connection: str) -> None:
    # Before, the bridge had no client certificate settings: a broker that requires one
    # (mutual TLS, as for devices) refused it.
    fields = dict(CONNECTIONS[connection])
    model = fields.pop("model")
    settings = model(
        **fields,
        tls=True,
        ca_file=Path("ca.pem"),
        cert_file=Path("bridge.crt"),
        key_file=Path("bridge.key"),
    )
    client = mock.Mock()
    settings.apply_tls(client)
    client.tls_set.assert_called_once_with(
        ca_certs="ca.pem", certfile="bridge.crt", keyfile="bridge.key"
    )


def test_without_tls_nothing_is_set() -> None:
    client = mock.Mock()
    MqttTlsSettings().apply_tls(client)
    client.tls_set.assert_not_called()


def test_the_system_roots_are_the_default() -> None:
    client = mock.Mock()
    MqttTlsSettings(tls=True).apply_tls(client)
    client.tls_set.assert_called_once_with(ca_certs=None, certfile=None, keyfile=None)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"tls": True, "cert_file": "bridge.crt"}, "go together"),
        ({"tls": True, "key_file": "bridge.key"}, "go together"),
        ({"ca_file": "ca.pem"}, "tls is false"),
        ({"cert_file": "bridge.crt", "key_file": "bridge.key"}, "tls is false"),
    ],
)
def test_incomplete_tls_settings_are_refused(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        MqttTlsSettings.model_validate(fields)
