"""TLS of the cloud's connections to the MQTT broker (the bridge, the account API).

The same shape as a device's (docs/architecture.md, "Transport"): `tls` with the system's
roots or `ca_file`, and with `cert_file` and `key_file` a client certificate on top of the
password, for a broker that requires one on its listener (mutual TLS).
"""

from __future__ import annotations

from pathlib import Path

import paho.mqtt.client as mqtt
from pydantic import BaseModel, ConfigDict, Field, model_validator


class MqttTlsSettings(BaseModel):
    """Trust roots and an optional client certificate of one connection to the broker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tls: bool = Field(default=False, description="Connect with TLS.")
    ca_file: Path | None = Field(
        default=None, description="PEM roots to trust instead of the system's (tls only)."
    )
    cert_file: Path | None = Field(
        default=None,
        description="PEM client certificate (chain), for a broker that requires one (mutual "
        "TLS); needs key_file (tls only).",
    )
    key_file: Path | None = Field(
        default=None, description="PEM private key of cert_file, unencrypted (tls only)."
    )

    @model_validator(mode="after")
    def _files_need_tls(self) -> MqttTlsSettings:
        named = [name for name in ("ca_file", "cert_file", "key_file") if getattr(self, name)]
        if named and not self.tls:
            raise ValueError(f"{', '.join(named)} set but tls is false")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (mutual TLS needs both)")
        return self

    def apply_tls(self, client: mqtt.Client) -> None:
        """Set up `client`'s TLS (before it connects); nothing without `tls`."""
        if not self.tls:
            return
        client.tls_set(
            ca_certs=str(self.ca_file) if self.ca_file else None,
            certfile=str(self.cert_file) if self.cert_file else None,
            keyfile=str(self.key_file) if self.key_file else None,
        )
