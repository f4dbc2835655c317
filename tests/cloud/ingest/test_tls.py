"""The ingest server over TLS and mTLS, with certificates the test makes; and its settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import ValidationError

from cloud.detections.models import Detection
from cloud.fleet.models import Device, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.ingest.credentials import issue_token
from cloud.ingest.server import IngestDeps, IngestServerSettings, create_server
from cloud.ingest.tls import ServerTls
from cloud.lib.objectstore import ObjectStore
from sightline.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from tests.cloud.ingest.certificates import Authority, Issued
from tests.cloud.ingest.uploads import Ingest, crop_request

STORED = ingest_pb2.ACK_STATUS_STORED


@pytest.fixture(scope="module")
def authority() -> Authority:
    return Authority("Sightline test CA")


@pytest.fixture(scope="module")
def server_cert(authority: Authority) -> Issued:
    return authority.issue("localhost", server=True)


Connect = Callable[..., Ingest]


@pytest.fixture
def serve_tls(
    transactional_db: None, enqueued: mock.MagicMock, objects: ObjectStore
) -> Iterator[Callable[[ServerTls], Connect]]:
    """Start a server with `tls`; return a function that opens a client channel to it."""
    running: list[tuple[grpc.Server, list[grpc.Channel]]] = []

    def serve(tls: ServerTls) -> Connect:
        server, port = create_server("127.0.0.1:0", IngestDeps(objects=objects, tls=tls))
        server.start()
        channels: list[grpc.Channel] = []
        running.append((server, channels))

        def connect(
            credentials: grpc.ChannelCredentials | None = None,
        ) -> Ingest:
            target = f"127.0.0.1:{port}"
            channel = (
                grpc.insecure_channel(target)
                if credentials is None
                else grpc.secure_channel(target, credentials)
            )
            channels.append(channel)
            return Ingest(ingest_pb2_grpc.IngestServiceStub(channel), channel)

        return connect

    yield serve
    for server, channels in running:
        for channel in channels:
            channel.close()
        server.stop(grace=None).wait()


def client_tls(authority: Authority, device: Issued | None = None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=authority.cert,
        private_key=None if device is None else device.key,
        certificate_chain=None if device is None else device.cert,
    )


def test_a_device_uploads_over_tls(
    serve_tls: Callable[[ServerTls], Connect],
    authority: Authority,
    server_cert: Issued,
    token: str,
) -> None:
    connect = serve_tls(ServerTls(cert_chain=server_cert.cert, key=server_cert.key))
    edge = connect(client_tls(authority))
    assert [a.status for a in edge.upload([crop_request()], token)] == [STORED]
    probe = health_pb2_grpc.HealthStub(edge.channel)
    answer = probe.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_a_plaintext_client_cannot_talk_to_a_tls_server(
    serve_tls: Callable[[ServerTls], Connect], server_cert: Issued, token: str
) -> None:
    connect = serve_tls(ServerTls(cert_chain=server_cert.cert, key=server_cert.key))
    with pytest.raises(grpc.RpcError) as raised:
        connect().upload([crop_request()], token)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert not Detection.objects.exists()


def test_a_client_refuses_a_server_its_ca_did_not_sign(
    serve_tls: Callable[[ServerTls], Connect], server_cert: Issued, token: str
) -> None:
    connect = serve_tls(ServerTls(cert_chain=server_cert.cert, key=server_cert.key))
    with pytest.raises(grpc.RpcError) as raised:
        connect(client_tls(Authority("Someone else"))).upload([crop_request()], token)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert not Detection.objects.exists()


@pytest.fixture
def mtls(
    serve_tls: Callable[[ServerTls], Connect], authority: Authority, server_cert: Issued
) -> Connect:
    """A server that requires device certificates of `authority`."""
    return serve_tls(
        ServerTls(cert_chain=server_cert.cert, key=server_cert.key, client_ca=authority.cert)
    )


def test_with_mtls_a_device_needs_its_certificate_and_its_token(
    mtls: Connect, authority: Authority, token: str
) -> None:
    edge = mtls(client_tls(authority, authority.issue("gate-01", server=False)))
    assert [a.status for a in edge.upload([crop_request()], token)] == [STORED]
    with pytest.raises(grpc.RpcError) as raised:
        edge.upload([crop_request()], "not-a-token")
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    "certificate",
    [None, "another CA", "impostor CA"],
    ids=["no certificate", "certificate of another CA", "CA of the same name"],
)
def test_with_mtls_the_handshake_needs_a_certificate_of_the_ca(
    mtls: Connect, authority: Authority, token: str, certificate: str | None
) -> None:
    device = None
    if certificate == "another CA":
        device = Authority("Someone else").issue("gate-01", server=False)
    elif certificate == "impostor CA":
        # The right name, signed by a CA of the same name that is not the configured one.
        device = Authority("Sightline test CA").issue("gate-01", server=False)
    with pytest.raises(grpc.RpcError) as raised:
        mtls(client_tls(authority, device)).upload([crop_request()], token)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert not Detection.objects.exists()


def test_with_mtls_a_certificate_of_another_device_is_refused(
    mtls: Connect, authority: Authority, token: str
) -> None:
    # gate-02's certificate with gate-01's token: one leaked secret must not be enough.
    Device.objects.create(
        id="gate-02", site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )
    edge = mtls(client_tls(authority, authority.issue("gate-02", server=False)))
    with pytest.raises(grpc.RpcError) as raised:
        edge.upload([crop_request()], token)
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "gate-01" in (raised.value.details() or "")
    assert [
        a.status for a in edge.upload([crop_request(device_id="gate-02")], issue_token("gate-02"))
    ] == [STORED]


def test_the_settings_read_the_certificates_from_files(
    tmp_path: Path, authority: Authority, server_cert: Issued
) -> None:
    cert, key = server_cert.write(tmp_path, "server")
    ca = tmp_path / "devices-ca.crt"
    ca.write_bytes(authority.cert)
    settings = IngestServerSettings(
        address="[::]:50051", tls_cert_file=cert, tls_key_file=key, tls_client_ca_file=ca
    )
    assert settings.tls() == ServerTls(
        cert_chain=server_cert.cert, key=server_cert.key, client_ca=authority.cert
    )
    assert IngestServerSettings(address="127.0.0.1:0").tls() is None


@pytest.mark.parametrize("address", ["127.0.0.1:50051", "[::1]:50051", "localhost:0"])
def test_plaintext_is_allowed_on_loopback(address: str) -> None:
    assert IngestServerSettings(address=address).tls() is None


def test_plaintext_elsewhere_must_be_asked_for() -> None:
    # Secure by default: a deployment that forgot its certificates fails at start.
    with pytest.raises(ValidationError, match="not a loopback address"):
        IngestServerSettings(address="[::]:50051")
    with pytest.raises(ValidationError, match="not a loopback address"):
        IngestServerSettings(address="10.0.0.5:50051")
    assert IngestServerSettings(address="[::]:50051", plaintext=True).tls() is None


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"tls_cert_file": "server.crt"}, "together"),
        ({"tls_key_file": "server.key"}, "together"),
        ({"tls_client_ca_file": "ca.crt", "plaintext": True}, "needs tls_cert_file"),
    ],
)
def test_incomplete_tls_settings_are_refused(files: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        IngestServerSettings.model_validate({"address": "127.0.0.1:0", **files})
