"""`sightline.tls`: TLS on by default for both sides, plain text only to a loopback server."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sightline.tls import ClientTls, MqttEndpoint, address_host, is_loopback_host


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.0.3", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.5", False),
        ("broker.example.com", False),
        ("localhost.example.com", False),
        ("", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("address", "host"),
    [
        ("ingest:50051", "ingest"),
        ("127.0.0.1:50051", "127.0.0.1"),
        ("[::1]:50051", "[::1]"),
        ("dns:///ingest.example.com:443", "ingest.example.com"),
        ("ingest", "ingest"),
    ],
)
def test_the_host_of_an_address(address: str, host: str) -> None:
    assert address_host(address) == host


def test_tls_is_on_by_default_except_to_a_loopback_server() -> None:
    # Before, TLS was off unless configured: a device pointed at a remote broker or ingest
    # server sent its password, token and crops in plain text.
    assert ClientTls().tls_to("ingest.example.com")
    assert ClientTls().tls_to("10.1.2.3")
    assert not ClientTls().tls_to("127.0.0.1")
    assert not ClientTls().tls_to("localhost")


def test_an_explicit_choice_wins_both_ways() -> None:
    assert not ClientTls(tls=False).tls_to("ingest.example.com")
    assert ClientTls(tls=True).tls_to("127.0.0.1")


def test_naming_roots_or_a_certificate_means_tls_even_on_loopback(tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_text("x")
    assert ClientTls(ca_file=pem).tls_to("127.0.0.1")
    assert ClientTls(cert_file=pem, key_file=pem).tls_to("localhost")


def test_the_broker_port_follows_tls() -> None:
    assert MqttEndpoint(host="broker.example.com").broker_port == 8883
    assert MqttEndpoint(host="127.0.0.1").broker_port == 1883
    assert MqttEndpoint(host="broker.example.com", tls=False).broker_port == 1883
    assert MqttEndpoint(host="127.0.0.1", tls=True).broker_port == 8883
    assert MqttEndpoint(host="broker.example.com", port=9000).broker_port == 9000


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"tls": True, "cert_file": "c"}, "go together"),
        ({"tls": True, "key_file": "k"}, "go together"),
        ({"tls": False, "ca_file": "c"}, "ca_file set but tls is false"),
        ({"tls": False, "cert_file": "c", "key_file": "k"}, "cert_file, key_file set but tls"),
        ({"tls": True, "ca_file": "missing.pem"}, "does not point to a file"),
    ],
)
def test_incomplete_or_contradictory_settings_are_refused(
    tmp_path: Path, fields: dict[str, object], problem: str
) -> None:
    for name in ("c", "k"):
        (tmp_path / name).write_text("x")
    paths = {
        key: (str(tmp_path / value) if key.endswith("_file") and value != "missing.pem" else value)
        for key, value in fields.items()
    }
    with pytest.raises(ValidationError, match=problem):
        ClientTls.model_validate(paths)
