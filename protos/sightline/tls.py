"""Client TLS, the same for every connection either side opens (docs/architecture.md, "Security").

TLS is on by default: a connection goes in plain text only when its configuration says
`tls: false`, or when it leaves `tls` unset and the server is on this machine (a loopback host:
`localhost`, 127.0.0.0/8, ::1), which is how the demo and the tests run. That is the rule the
ingest server applies to the address it listens on, so both ends agree on what is trusted.
`ca_file` replaces the system's roots; `cert_file` and `key_file` add a client certificate
(mutual TLS) on top of the token or password.
"""

from __future__ import annotations

import ipaddress
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, FilePath, model_validator


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback addresses (brackets around IPv6 allowed)."""
    host = host.removeprefix("[").removesuffix("]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def address_host(address: str) -> str:
    """The host of `host:port`, `[v6]:port` or a gRPC `dns:///host:port` target."""
    address = address.removeprefix("dns:///").removeprefix("ipv4:").removeprefix("ipv6:")
    if address.startswith("[") and "]" in address:
        return address[: address.index("]") + 1]
    return address.rpartition(":")[0] if ":" in address else address


class ClientTls(BaseModel):
    """Trust roots and an optional client certificate of one client connection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tls: bool | None = Field(
        default=None,
        description="Use TLS. Unset: yes, unless the server is a loopback host (localhost, "
        "127.0.0.0/8, ::1), where plain text is allowed.",
    )
    ca_file: FilePath | None = Field(
        default=None, description="PEM roots to trust instead of the system's (TLS only)."
    )
    cert_file: FilePath | None = Field(
        default=None,
        description="PEM client certificate (chain) for mutual TLS; needs key_file (TLS only).",
    )
    key_file: FilePath | None = Field(
        default=None, description="PEM private key of cert_file, unencrypted (TLS only)."
    )

    @model_validator(mode="after")
    def _files_need_tls(self) -> Self:
        named = [
            name for name in ("ca_file", "cert_file", "key_file") if getattr(self, name) is not None
        ]
        if named and self.tls is False:
            raise ValueError(f"{', '.join(named)} set but tls is false")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (mutual TLS needs both)")
        return self

    def tls_to(self, host: str) -> bool:
        """Whether a connection to `host` uses TLS (see `tls`)."""
        if self.tls is not None:
            return self.tls
        named = self.ca_file is not None or self.cert_file is not None
        return named or not is_loopback_host(host)


class MqttEndpoint(ClientTls):
    """A broker to connect to: host, port and TLS (the port's default follows TLS)."""

    host: str = Field(min_length=1, description="Broker host name or address.")
    port: int | None = Field(
        default=None, gt=0, lt=65536, description="Broker port; default 8883 with TLS, else 1883."
    )

    @property
    def uses_tls(self) -> bool:
        """Whether the connection uses TLS (see `tls`)."""
        return self.tls_to(self.host)

    @property
    def broker_port(self) -> int:
        """The port to connect to."""
        if self.port is not None:
            return self.port
        return 8883 if self.uses_tls else 1883
