"""``python -m cloud mqtt_bridge``: apply device MQTT messages to the database and publish
desired states (`cloud.deploy.publisher`) and alerts (`cloud.alerts.publisher`) until SIGTERM."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cloud.alerts.publisher import AlertPublisher
from cloud.deploy.publisher import DesiredPublisher
from cloud.ingest.bridge import BridgeError, MqttBridge, MqttBridgeSettings
from cloud.ingest.shutdown import stop_event_on_signals


class Command(BaseCommand):
    help = (
        "Subscribe to device status, metrics (heartbeats) and reported state over MQTT; "
        "publish devices' desired state and alert notifications."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        bridge_settings = MqttBridgeSettings.model_validate(settings.MQTT_BRIDGE)
        prefix = bridge_settings.topic_prefix
        bridge = MqttBridge(
            bridge_settings,
            downstream=lambda publish: DesiredPublisher(
                publish, prefix, bridge_settings.sites
            ).publish_pending()
            + AlertPublisher(publish, prefix).publish_pending(),
        )
        try:
            bridge.run(stop_event_on_signals())
        except BridgeError as err:
            raise CommandError(str(err)) from err
