"""MQTT topics of alerts: `<prefix>/alerts/<alert id>`, one per alert, beside the device
topics (`<prefix>/v1/...`, `sightline.device.v1.topics`) under the same prefix.

The payload is the webhook's JSON body (`cloud.alerts.notifications.body`, versioned by its
``version`` field), published at QoS 1, not retained (an alert is news, not state). Only the
bridge publishes there (`cloud.alerts.publisher`); its broker role allows it
(`cloud.fleet.broker.bridge_acls`). Integrations subscribe with accounts of their own.
"""

from __future__ import annotations

from typing import Final

from sightline.device.v1.topics import validate_prefix

ALERTS_LEVEL: Final = "alerts"


def alert_topic(prefix: str, alert_id: int) -> str:
    """Where the notifications of alert `alert_id` are published."""
    return f"{validate_prefix(prefix)}/{ALERTS_LEVEL}/{alert_id}"


def alert_topics(prefix: str) -> str:
    """The topic filter of every alert's notifications."""
    return f"{validate_prefix(prefix)}/{ALERTS_LEVEL}/+"
