"""The gRPC ingest server: `create_server(address, deps)` builds it, `serve()` runs it.

The server holds the `IngestService` behind device authentication, and the standard health
service (``grpc.health.v1.Health``) answering for "" and for the ingest service's name, open
to probes without credentials. Message size is limited by the server itself, so an oversized
message fails its stream with RESOURCE_EXHAUSTED before the servicer sees it. Upload streams
are limited to `max_streams` at once (RESOURCE_EXHAUSTED beyond), on their own: probes answer
however busy the uploads keep the server. The port speaks TLS, with device certificates as an
option (`cloud.ingest.tls`); plain text needs a loopback address or an explicit `plaintext`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud.embeddings.spec import DEFAULT_MAX_CROP_PIXELS
from cloud.ingest.auth import MAX_STREAMS_PER_DEVICE, REAUTHENTICATE_S, DeviceAuthInterceptor
from cloud.ingest.credentials import authenticate_token
from cloud.ingest.embedding_batch import EMBED_BATCH_SIZE
from cloud.ingest.servicer import PUT_THREADS, IngestServicer
from cloud.ingest.tls import ServerTls
from cloud.lib.objectstore import ObjectStore
from sightline.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from sightline.tls import address_host, is_loopback_host

logger = logging.getLogger(__name__)

SERVICE_NAME: Final = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name
# Threads beyond the upload streams' own: health checks and refusals never wait for an upload.
_SPARE_THREADS: Final = 4


class IngestServerSettings(BaseModel):
    """How `python -m cloud ingest_grpc` listens (`settings.INGEST_GRPC`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str = Field(description="host:port to listen on; port 0 picks a free one.")
    max_message_bytes: int = Field(
        default=4 * 1024**2,
        ge=1024,
        description="Largest request or response; a bigger one fails its stream with "
        "RESOURCE_EXHAUSTED. Keep the edge's uplink max_message_bytes at or below it.",
    )
    max_streams: int = Field(
        default=16,
        ge=1,
        description="Upload streams served at once (each holds a thread); further streams are "
        "refused with RESOURCE_EXHAUSTED, which edges retry with backoff. Health checks do not "
        "count against it.",
    )
    max_crop_pixels: int = Field(
        default=DEFAULT_MAX_CROP_PIXELS,
        ge=1,
        description="Most pixels (width x height) a crop's JPEG header may declare; a larger "
        "crop is REJECTED_INVALID. Keep it the embed workers' max_crop_pixels, so that every "
        "stored crop is one they decode.",
    )
    grace_s: float = Field(
        default=10.0, ge=0, description="How long calls in flight may finish on shutdown."
    )
    tls_cert_file: Path | None = Field(
        default=None, description="PEM certificate chain of the server; with tls_key_file, TLS."
    )
    tls_key_file: Path | None = Field(default=None, description="PEM private key of the server.")
    tls_client_ca_file: Path | None = Field(
        default=None,
        description="PEM roots of device certificates (mTLS): every connection must present a "
        "certificate they signed, and every ingest call one that names its device, besides "
        "the device's token. Needs TLS.",
    )
    share_port: bool = Field(
        default=False,
        description="Let several ingest processes on this host listen on the same address "
        "(SO_REUSEPORT): the kernel spreads device connections over them. One Python process "
        "serves about one core (its interpreter lock); more processes use more cores. Off, a "
        "second server on a port in use fails to start instead of sharing it unnoticed.",
    )
    plaintext: bool = Field(
        default=False,
        description="Listen without TLS on an address other than loopback, because a proxy in "
        "front terminates TLS. Without it, such an address needs tls_cert_file and tls_key_file.",
    )

    @model_validator(mode="after")
    def _secure_unless_told(self) -> IngestServerSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("set tls_cert_file and tls_key_file together")
        if self.tls_cert_file is None:
            if self.tls_client_ca_file is not None:
                raise ValueError("tls_client_ca_file needs tls_cert_file and tls_key_file")
            if not (self.plaintext or is_loopback_host(address_host(self.address))):
                raise ValueError(
                    f"{self.address} is not a loopback address: set tls_cert_file and "
                    "tls_key_file, or plaintext when a proxy in front terminates TLS (device "
                    "tokens must not cross a network in plain text)"
                )
        return self

    def tls(self) -> ServerTls | None:
        """The server's certificates read from their files, or None for plaintext."""
        if self.tls_cert_file is None or self.tls_key_file is None:
            return None
        return ServerTls.from_files(self.tls_cert_file, self.tls_key_file, self.tls_client_ca_file)


@dataclass(frozen=True, kw_only=True)
class IngestDeps:
    """What the server's handlers use; tests pass their own stores and authenticator."""

    objects: ObjectStore
    authenticate: Callable[[str], str] = authenticate_token
    """Token -> device id; raises `cloud.errors.NotFound` for an unknown token."""
    max_message_bytes: int = 4 * 1024**2
    max_streams: int = 16
    max_streams_per_device: int = MAX_STREAMS_PER_DEVICE
    reauthenticate_s: float = REAUTHENTICATE_S
    """How often the token of an open stream is checked again (`DeviceAuthInterceptor`)."""
    embed_batch_size: int = EMBED_BATCH_SIZE
    max_crop_pixels: int = DEFAULT_MAX_CROP_PIXELS
    health: health.HealthServicer = field(default_factory=health.HealthServicer)
    """Answers health checks; `serve` marks it NOT_SERVING while draining."""
    tls: ServerTls | None = None
    """Certificates of a secure port; None listens in plain text."""
    share_port: bool = False
    """Listen with SO_REUSEPORT, beside other processes on the same address."""
    puts: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(PUT_THREADS, thread_name_prefix="ingest-put")
    )
    """Runs the object puts of crops stored together; shut it down after the server."""


def create_server(address: str, deps: IngestDeps) -> tuple[grpc.Server, int]:
    """Build (not start) the server bound to `address`; return it and the bound port."""
    options = [
        ("grpc.max_receive_message_length", deps.max_message_bytes),
        ("grpc.max_send_message_length", deps.max_message_bytes),
        # Two servers share a port only when told to (grpc turns SO_REUSEPORT on by default).
        ("grpc.so_reuseport", 1 if deps.share_port else 0),
    ]
    # No maximum_concurrent_rpcs: it would count health checks too, so a server busy with
    # uploads would fail its probes. Upload streams are bounded by the interceptor instead, and
    # the spare threads serve probes and the quick refusals of streams beyond the bound.
    server = grpc.server(
        ThreadPoolExecutor(
            max_workers=deps.max_streams + _SPARE_THREADS, thread_name_prefix="ingest"
        ),
        interceptors=[
            DeviceAuthInterceptor(
                SERVICE_NAME,
                deps.authenticate,
                max_streams=deps.max_streams,
                max_streams_per_device=deps.max_streams_per_device,
                reauthenticate_s=deps.reauthenticate_s,
                device_certificates=deps.tls is not None and deps.tls.client_ca is not None,
            )
        ],
        options=options,
    )
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(
        IngestServicer(
            deps.objects,
            deps.puts,
            embed_batch_size=deps.embed_batch_size,
            max_crop_pixels=deps.max_crop_pixels,
        ),
        server,
    )
    health_pb2_grpc.add_HealthServicer_to_server(deps.health, server)
    for name in ("", SERVICE_NAME):
        deps.health.set(name, health_pb2.HealthCheckResponse.SERVING)
    if deps.tls is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, deps.tls.credentials())
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    return server, port


def serve(settings: IngestServerSettings, objects: ObjectStore, stop: threading.Event) -> None:
    """Run the server until `stop` is set, then drain calls for up to `grace_s`.

    The server speaks TLS with the settings' certificates; plain text only on loopback or
    behind a proxy that terminates TLS (`plaintext`), see `cloud.ingest.tls`.
    """
    deps = IngestDeps(
        objects=objects,
        max_message_bytes=settings.max_message_bytes,
        max_streams=settings.max_streams,
        max_crop_pixels=settings.max_crop_pixels,
        tls=settings.tls(),
        share_port=settings.share_port,
    )
    server, port = create_server(settings.address, deps)
    server.start()
    logger.info(
        "ingest server listening on port %d (%s)",
        port,
        "plaintext" if deps.tls is None else "TLS" if deps.tls.client_ca is None else "mTLS",
    )
    # Waits in slices: a signal that the kernel delivers to one of grpc's threads would not
    # wake a main thread blocked in an unbounded wait, so its handler would never run.
    while not stop.wait(0.5):
        pass
    logger.info("ingest server stopping; in-flight calls get %.0f s", settings.grace_s)
    # Probes see NOT_SERVING first, so the load balancer stops sending new streams.
    deps.health.enter_graceful_shutdown()
    server.stop(settings.grace_s).wait()
    deps.puts.shutdown()
    logger.info("ingest server stopped")
