"""TLS settings shared by the device's two connections (gRPC uplink, MQTT link).

`tls` with the system's roots or `ca_file`; with `cert_file` and `key_file` the device also
proves itself with a client certificate (mutual TLS), on top of its token or password.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, FilePath, model_validator


class TlsSettings(BaseModel):
    """Trust roots and an optional client certificate of one client connection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tls: bool = Field(default=False, description="Use TLS (required outside a trusted network).")
    ca_file: FilePath | None = Field(
        default=None, description="PEM roots to trust instead of the system's (tls only)."
    )
    cert_file: FilePath | None = Field(
        default=None,
        description="PEM client certificate (chain) for mutual TLS; needs key_file (tls only).",
    )
    key_file: FilePath | None = Field(
        default=None, description="PEM private key of cert_file, unencrypted (tls only)."
    )

    @model_validator(mode="after")
    def _files_need_tls(self) -> TlsSettings:
        named = [
            name for name in ("ca_file", "cert_file", "key_file") if getattr(self, name) is not None
        ]
        if named and not self.tls:
            raise ValueError(f"{', '.join(named)} set but tls is false")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (mutual TLS needs both)")
        return self
