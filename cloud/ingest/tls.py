"""Transport security of the ingest server: TLS, and optionally device certificates (mTLS).

Bearer tokens authenticate every call (`cloud.ingest.auth`), so they must never cross a
network in plain text: the server speaks TLS unless it listens on loopback only or is told that
a proxy in front terminates TLS (`IngestServerSettings`, docs/architecture.md, "Transport").

With a client CA, the handshake itself requires a certificate that CA signed, and each ingest
call must come with a certificate that names its device (common name or a DNS name equal to
the device id) besides the device's token: a leaked token alone, or one device's certificate
with another device's token, is refused. The CA requirement covers health checks too, since it
belongs to the connection: probes present a certificate of the same CA, or check the port.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from cloud.ingest.errors import PermissionDenied


@dataclass(frozen=True, kw_only=True)
class ServerTls:
    """The server's PEM certificate chain and key, and the PEM CA of device certificates."""

    cert_chain: bytes = field(repr=False)
    key: bytes = field(repr=False)
    client_ca: bytes | None = field(default=None, repr=False)
    """Roots of device certificates; None leaves clients unauthenticated at the TLS level."""

    @classmethod
    def from_files(cls, cert_chain: Path, key: Path, client_ca: Path | None) -> ServerTls:
        """Read the PEM files; an unreadable one raises OSError naming it."""
        return cls(
            cert_chain=cert_chain.read_bytes(),
            key=key.read_bytes(),
            client_ca=None if client_ca is None else client_ca.read_bytes(),
        )

    def credentials(self) -> grpc.ServerCredentials:
        """The credentials of a secure port: a device certificate is required with a CA."""
        return grpc.ssl_server_credentials(
            [(self.key, self.cert_chain)],
            root_certificates=self.client_ca,
            require_client_auth=self.client_ca is not None,
        )


def require_certificate_names(context: grpc.ServicerContext, device_id: str) -> None:
    """Raise `PermissionDenied` unless the call's client certificate names `device_id`."""
    # grpc-stubs type each value as bytes; grpcio gives a list of them.
    auth: Mapping[str, Sequence[bytes]] = context.auth_context()  # type: ignore[assignment]
    names = {
        name.decode(errors="replace")
        for key in ("x509_common_name", "x509_subject_alternative_name")
        for name in auth.get(key, ())
    }
    if device_id not in names:
        raise PermissionDenied(f"the client certificate does not name device {device_id!r}")
