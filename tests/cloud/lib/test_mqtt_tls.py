"""TLS of the cloud's MQTT connections (bridge, account API): roots and a client certificate.

The rules themselves (on by default, plain text only to loopback) are `sightline.tls`'s and
tested in tests/protos/test_tls.py; these check that the cloud's connections apply them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from pydantic import SecretStr

from cloud.fleet.broker import BrokerAdminSettings
from cloud.ingest.bridge import MqttBridgeSettings
from cloud.lib.mqtt_tls import apply_tls

# Both connections of the cloud to the broker take the same TLS settings.
CONNECTIONS: dict[str, dict[str, Any]] = {
    "bridge": {"model": MqttBridgeSettings},
    "account API": {
        "model": BrokerAdminSettings,
        "username": "admin",
        "password": SecretStr("x"),
    },
}


@pytest.fixture
def pems(tmp_path: Path) -> dict[str, Path]:
    files = {"ca_file": "ca.pem", "cert_file": "bridge.crt", "key_file": "bridge.key"}
    for name in files.values():
        (tmp_path / name).write_text("x")
    return {key: tmp_path / name for key, name in files.items()}


@pytest.mark.parametrize("connection", CONNECTIONS)
def test_a_client_certificate_goes_into_the_tls_handshake(
    connection: str, pems: dict[str, Path]
) -> None:
    # Before, the bridge had no client certificate settings: a broker that requires one
    # (mutual TLS, as for devices) refused it.
    fields = dict(CONNECTIONS[connection])
    model = fields.pop("model")
    client = mock.Mock()
    apply_tls(client, model(**fields, host="broker", **pems))
    client.tls_set.assert_called_once_with(
        ca_certs=str(pems["ca_file"]),
        certfile=str(pems["cert_file"]),
        keyfile=str(pems["key_file"]),
    )


@pytest.mark.parametrize("connection", CONNECTIONS)
def test_a_remote_broker_gets_tls_with_the_system_roots_by_default(connection: str) -> None:
    fields = dict(CONNECTIONS[connection])
    model = fields.pop("model")
    client = mock.Mock()
    settings = model(**fields, host="broker.example.com")
    apply_tls(client, settings)
    client.tls_set.assert_called_once_with(ca_certs=None, certfile=None, keyfile=None)
    assert settings.broker_port == 8883


def test_a_loopback_broker_may_be_plain_text() -> None:
    client = mock.Mock()
    apply_tls(client, MqttBridgeSettings(host="127.0.0.1"))
    client.tls_set.assert_not_called()
