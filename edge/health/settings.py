"""The `metrics:` section of the agent's config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MetricsSettings(BaseModel):
    """The agent's HTTP endpoint for Prometheus and health checks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        default=False,
        description="Serve /metrics (Prometheus text format), /healthz and /readyz over HTTP.",
    )
    host: str = Field(
        default="127.0.0.1",
        description="Address to listen on; 127.0.0.1 keeps it on the device, 0.0.0.0 lets a "
        "Prometheus server or a kubelet elsewhere reach it (no authentication: figures only).",
    )
    port: int = Field(
        default=9464,
        ge=0,
        le=65535,
        description="TCP port (9464 is Prometheus' registered exporter port for agents like "
        "this one); 0 picks a free one (tests).",
    )
