"""The edge agent as the integration tests run it (`python -m edge run`, a real process): its
config, delivering over MQTT and the gRPC uplink to this test's broker and ingest server, and
the environment that carries its secrets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from tests.services.contract import MqttBroker

REPO = Path(__file__).resolve().parents[2]
AGENT = ("-m", "edge", "run", "--config")
"""The agent's command line after the interpreter, before the config's path."""


def agent_config(
    work: Path, broker: MqttBroker, site: str, ingest_port: int, cameras: list[dict[str, Any]]
) -> Path:
    """Write the config of an agent running `cameras` as the broker's first device, with a
    heartbeat every second; return its path (in `work`, beside its outbox)."""
    config = {
        "device": {"id": broker.device.username, "site": site, "hardware_profile": "x86-cpu"},
        "detector": {"type": "ort", "model": {"manifest": str(REPO / "models/nanodet-g.toml")}},
        "cameras": cameras,
        "delivery": {
            "outbox": {"path": str(work / "outbox.sqlite3")},
            "mqtt": {
                "host": broker.host,
                "port": broker.port,
                "username": broker.device.username,
                "topic_prefix": broker.topic_prefix,
                "heartbeat_s": 1.0,
            },
            "uplink": {"target": f"127.0.0.1:{ingest_port}"},
            "drain_timeout_s": 120.0,
        },
    }
    path = work / "edge.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def agent_env(token: str, mqtt_password: str) -> dict[str, str]:
    """This process's environment plus the agent's secrets, and DEBUG logs (each frame, each
    spooled crop and track: what the tests compare with the cloud)."""
    return {
        **os.environ,
        "SIGHTLINE_EDGE_LOG_LEVEL": "DEBUG",
        "SIGHTLINE_EDGE_DELIVERY__UPLINK__TOKEN": token,
        "SIGHTLINE_EDGE_DELIVERY__MQTT__PASSWORD": mqtt_password,
    }
