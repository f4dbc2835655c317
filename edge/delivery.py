"""Pipeline output -> wire messages -> outbox, and the transport threads that deliver them.

`OutboxDelivery` composes the transport package (see `edge/transport/__init__.py`): one `Outbox`,
an `MqttLink` when `delivery.mqtt` is set, a `CropUplink` when `delivery.uplink` is set, and the
`Sender` that drains the outbox through them. Pipelines call `crop`/`track`/`event` on their
camera threads; each call turns the record into its protobuf message (`edge.wire`), puts it in the
outbox (fsynced, `transport.spool`), then wakes the sender. Everything is spooled, also kinds
without a configured lane: the outbox is the record, bounded with counted drop-oldest, and it is
delivered once the lane is configured.

`CountingDelivery` counts and discards: for local runs without a cloud (`delivery: null`).
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict, Field

from edge import wire
from edge.records import CameraEvent, Crop, ModelRef, TrackSummary
from edge.transport.lane import Lane
from edge.transport.mqtt import MqttLink, MqttSettings
from edge.transport.outbox import Kind, Outbox, OutboxSettings
from edge.transport.sender import Sender, SenderSettings
from edge.transport.spool import enqueue, enqueue_crop
from edge.transport.uplink import CropUplink, UplinkSettings
from sightline.device.v1 import status_pb2
from sightline.device.v1.topics import DeviceTopics, Upstream

logger = logging.getLogger(__name__)

# How long closing waits for each transport thread; a sender in the middle of a batch returns
# at its call deadline at the latest, and the process exit ends a daemon thread anyway.
_JOIN_TIMEOUT_S = 5.0
_DRAIN_POLL_S = 0.1


class DeliverySettings(BaseModel):
    """How the agent's output reaches the cloud: the spool, the MQTT link and the gRPC uplink."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    outbox: OutboxSettings = Field(description="The on-disk spool everything goes through.")
    mqtt: MqttSettings | None = Field(
        default=None,
        description="MQTT broker for status, events and track summaries; null keeps them spooled.",
    )
    uplink: UplinkSettings | None = Field(
        default=None, description="gRPC ingest server for crops; null keeps crops spooled."
    )
    sender: SenderSettings = Field(
        default=SenderSettings(), description="Batching and retry timing of the outbox sender."
    )
    drain_timeout_s: float = Field(
        default=10.0,
        ge=0,
        description="When the cameras are done (files ended, max frames, stop signal), wait up to "
        "this long for the spool to empty before exiting; what is left goes on the next start.",
    )


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """What the delivery layer did since it started."""

    crops_queued: int = 0
    crops_sent: int = 0
    """Crops the cloud acknowledged (stored, or already had)."""
    tracks_queued: int = 0
    events_queued: int = 0
    spooled: int = 0
    """Rows still waiting in the outbox."""
    failures: tuple[str, ...] = ()
    """Permanent delivery errors (bad credentials, ACL denials)."""


def agent_version() -> str:
    """The installed agent's version (the `sightline` distribution)."""
    try:
        return importlib.metadata.version("sightline")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


class CountingDelivery:
    """Counts what it is given and keeps nothing (`delivery: null`). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = DeliveryStats()

    def start(self) -> None:
        """Nothing to start."""

    def crop(self, crop: Crop) -> None:
        """Count the crop."""
        with self._lock:
            self._stats = _bump(self._stats, crops_queued=1)

    def track(self, summary: TrackSummary) -> None:
        """Count the summary."""
        with self._lock:
            self._stats = _bump(self._stats, tracks_queued=1)

    def event(self, event: CameraEvent) -> None:
        """Count the event."""
        with self._lock:
            self._stats = _bump(self._stats, events_queued=1)

    def drain(self, timeout_s: float, abort: threading.Event) -> bool:
        """Nothing is ever pending."""
        return True

    def close(self) -> None:
        """Nothing to close."""

    def stats(self) -> DeliveryStats:
        """The counts so far."""
        with self._lock:
            return self._stats


def _bump(stats: DeliveryStats, **increments: int) -> DeliveryStats:
    return replace(stats, **{name: getattr(stats, name) + n for name, n in increments.items()})


class OutboxDelivery:
    """Spools pipeline output and runs the threads that deliver it (see the module docstring)."""

    def __init__(
        self,
        settings: DeliverySettings,
        *,
        device_id: str,
        site: str,
        hardware_profile: str,
        camera_models: Sequence[tuple[str, ModelRef]],
    ) -> None:
        """`camera_models`: (camera id, model) pairs announced in the birth message."""
        self._settings = settings
        self._stop = threading.Event()
        self._outbox = Outbox(settings.outbox)
        mqtt = settings.mqtt
        prefix = mqtt.topic_prefix if mqtt else MqttSettings.model_fields["topic_prefix"].default
        self._topics = DeviceTopics(prefix=prefix, site=site, device=device_id)
        self._status = wire.status_template(
            agent_version=agent_version(),
            hardware_profile=hardware_profile,
            camera_models=camera_models,
        )
        lanes: dict[Kind, Lane] = {}
        self._link: MqttLink | None = None
        self._uplink: CropUplink | None = None
        if settings.mqtt is not None:
            self._link = MqttLink(
                settings.mqtt, self._topics, self._outbox, self._describe, self._stop
            )
            lanes["mqtt"] = self._link
        if settings.uplink is not None:
            self._uplink = CropUplink(settings.uplink)
            lanes["crop"] = self._uplink
        self._lanes = lanes
        self._sender = Sender(self._outbox, lanes, self._stop, settings.sender)
        if self._link is not None:
            # A fresh connection ends the MQTT lane's backoff, so the backlog drains at once.
            self._link.add_ready_listener(lambda: self._sender.wake("mqtt"))
        self._lock = threading.Lock()
        self._queued = DeliveryStats()

    def _describe(self) -> status_pb2.DeviceStatus:
        status = status_pb2.DeviceStatus()
        status.CopyFrom(self._status)
        return status

    def start(self) -> None:
        """Start the MQTT link and the sender threads."""
        if self._link is not None:
            self._link.start()
        if self._lanes:
            self._sender.start()
        logger.info(
            "delivery started: mqtt %s, crop uplink %s, %d rows spooled",
            "on" if self._link else "off (spooling)",
            "on" if self._uplink else "off (spooling)",
            self._outbox.depth(),
        )

    def crop(self, crop: Crop) -> None:
        """Spool an UploadCropsRequest keyed by the crop's detection id."""
        enqueue_crop(self._outbox, wire.crop_request(crop, device_id=self._topics.device))
        self._queued_one(crops_queued=1)
        logger.debug(
            "crop %s spooled (%s, track %s)", crop.detection_id, crop.label, crop.track_id,
            extra={"camera_id": crop.camera_id, "detection_id": crop.detection_id},
        )  # fmt: skip

    def track(self, summary: TrackSummary) -> None:
        """Spool a TrackSummary for the `tracks` topic."""
        topic = self._topics.upstream(Upstream.TRACKS)
        enqueue(self._outbox, self._topics, topic, wire.track_message(summary))
        self._queued_one(tracks_queued=1)

    def event(self, event: CameraEvent) -> None:
        """Spool an Event for the `events` topic."""
        topic = self._topics.upstream(Upstream.EVENTS)
        enqueue(self._outbox, self._topics, topic, wire.event_message(event))
        self._queued_one(events_queued=1)

    def _queued_one(self, **increment: int) -> None:
        with self._lock:
            self._queued = _bump(self._queued, **increment)
        self._sender.wake()

    def drain(self, timeout_s: float, abort: threading.Event) -> bool:
        """Wait until every kind with a lane is delivered, `timeout_s` passes or `abort` is set;
        True when nothing deliverable is left."""
        lanes: dict[Kind, object] = {"mqtt": self._link, "crop": self._uplink}
        kinds = [kind for kind, lane in lanes.items() if lane is not None]
        deadline = time.monotonic() + timeout_s
        while True:
            failed = self._sender.failures()
            pending = [k for k in kinds if k not in failed and self._outbox.depth(k) > 0]
            if not pending:
                return True
            if time.monotonic() >= deadline or abort.wait(_DRAIN_POLL_S):
                logger.info("delivery: %s still spooled at exit", ", ".join(pending))
                return False

    def close(self) -> None:
        """Stop the threads (the MQTT link publishes its OFFLINE status) and close the spool."""
        self._stop.set()
        self._sender.wake()
        if self._uplink is not None:
            # Cancels an upload in flight (its rows stay spooled), so the sender stops now
            # rather than at the call's deadline.
            self._uplink.close()
        self._sender.join(_JOIN_TIMEOUT_S)
        if self._link is not None:
            self._link.join(_JOIN_TIMEOUT_S)
        self._outbox.close()

    def stats(self) -> DeliveryStats:
        """Queued counts, crops the cloud acknowledged, spool depth and permanent failures."""
        counters = self._sender.counters().get("crop")
        failures = [str(error) for error in self._sender.failures().values()]
        if self._link is not None and self._link.error is not None:
            failures.append(str(self._link.error))
        with self._lock:
            queued = self._queued
        return DeliveryStats(
            crops_queued=queued.crops_queued,
            crops_sent=counters.acked + counters.duplicates if counters else 0,
            tracks_queued=queued.tracks_queued,
            events_queued=queued.events_queued,
            spooled=self._outbox.depth(),
            failures=tuple(dict.fromkeys(failures)),
        )
