"""An alert fires once per match, through a real webhook and a real MQTT subscription.

As deployed: `python -m cloud ingest_grpc`, a Celery worker of the `embed` queue (which embeds
the crop, matches it against the alerts and POSTs the webhook) and `python -m cloud
mqtt_bridge` (which publishes the event) run as processes on PostgreSQL, S3, Weaviate, Redis
and Mosquitto; the test uploads a real vtest.avi crop as the edge does, receives the webhook on
an HTTP server of its own and the notification on a subscription of its own. Then the batch
runs again on the worker, as a retried embed task does, and nothing fires a second time.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cloud.alerts.notifications import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from sightline.ingest.v1 import ingest_pb2
from tests.cloud.ingest.processes import (
    Background,
    bridge_variables,
    cloud_command,
    cloud_env,
    run_cloud,
)
from tests.cloud.ingest.uploads import Ingest, crop_request
from tests.integration.mqtt_session import BrokerSession
from tests.integration.test_cloud_ingest import wait_until_embedded
from tests.services.contract import MqttBroker

pytestmark = pytest.mark.integration

DEVICE = "gate-01"

# One process start for all three: the device as an operator provisions it, the alert (any
# person) and the device's token.
MAKE_ALERT = """
from django.core.management import call_command

from cloud.access.models import Role
from cloud.alerts.models import Alert
from cloud.ingest.credentials import issue_token
from tests.users import make_user

alert = Alert.objects.create(
    owner=make_user("ana", Role.LABELER), name="people", kind="search",
    understood={{"terms": [{{"source": "class", "name": "person"}}], "colours": []}},
    webhook_url="{url}", mqtt=True, min_interval_s=0,
)
call_command("provision_device", "{device}", "--hardware", "x86-cpu")
print(alert.pk, alert.secret, issue_token("{device}"))
"""

# A retried embed task: the row unmarked again, and the same batch queued to the worker.
RETRY_BATCH = """
from cloud.detections.models import Detection
from cloud.embeddings.tasks import embed_detections

Detection.objects.filter(pk="{id}").update(embedded_at=None)
embed_detections.delay(["{id}"])
"""


@pytest.fixture
def hooks() -> Iterator[tuple[str, queue.Queue[tuple[dict[str, str], bytes]]]]:
    """A webhook receiver on 127.0.0.1: its URL and what it received."""
    received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            data = self.rfile.read(int(self.headers["Content-Length"]))
            received.put((dict(self.headers.items()), data))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def env(storage_env: dict[str, str], mqtt_broker: MqttBroker, mqtt_site: str) -> dict[str, str]:
    """The cloud on this test's stores; alert topics under a prefix of this test's own."""
    env = cloud_env(
        {
            **storage_env,
            **bridge_variables(mqtt_broker, mqtt_site),
            "SIGHTLINE_CLOUD_MQTT_TOPIC_PREFIX": f"{mqtt_broker.topic_prefix}/{mqtt_site}",
            "SIGHTLINE_CLOUD_PUBLIC_URL": "https://sightline.example",
        }
    )
    return env


def _events(database_url: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT detection_id, webhook, mqtt FROM alerts_alertevent ORDER BY id"
        ).fetchall()


def test_a_new_crop_fires_its_alert_once_by_webhook_and_mqtt(
    env: dict[str, str],
    mqtt_broker: MqttBroker,
    mqtt_site: str,
    hooks: tuple[str, queue.Queue[tuple[dict[str, str], bytes]]],
    worker: Background,
    edge: Ingest,
    tmp_path: Path,
) -> None:
    url, received = hooks
    # The bridge connects while the alert is made.
    bridge = Background(cloud_command("mqtt_bridge"), env, tmp_path / "bridge.log")
    try:
        made = run_cloud(env, "shell", "-c", MAKE_ALERT.format(url=url, device=DEVICE))
        alert_id, secret, token = made.strip().splitlines()[-1].split()
        bridge.wait_for("connected to the broker")
        with BrokerSession(mqtt_broker, mqtt_broker.admin, f"{mqtt_site}-alerts") as session:
            topic = f"{mqtt_broker.topic_prefix}/{mqtt_site}/alerts/{alert_id}"
            assert not session.subscribe(topic).is_failure
            request = crop_request(device_id=DEVICE)
            (ack,) = edge.upload([request], token)
            assert ack.status == ingest_pb2.ACK_STATUS_STORED

            headers, data = received.get(timeout=60)
            body = json.loads(data)
            assert (body["alert"]["id"], body["detection"]) == (int(alert_id), request.detection_id)
            assert body["links"]["track"] == (
                f"https://sightline.example/tracks/{request.track_id}/"
            )
            timestamp = int(headers[TIMESTAMP_HEADER])
            assert headers[SIGNATURE_HEADER] == signature(secret, timestamp, data)
            message = session.next_message()
            assert message.topic == topic
            assert json.loads(message.payload) == body

            # The same batch again, as a retried embed task runs it: nothing fires twice.
            database = env["SIGHTLINE_CLOUD_DATABASE_URL"]
            run_cloud(env, "shell", "-c", RETRY_BATCH.format(id=request.detection_id))
            wait_until_embedded(database, [request.detection_id])
            time.sleep(1.5)  # a second notification would have been sent by now
            assert received.empty()
            assert session.messages.empty()
            assert _events(database) == [(request.detection_id, "sent", "sent")]
    finally:
        bridge.stop()
