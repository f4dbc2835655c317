"""Pipeline output -> wire messages -> outbox, and the transport threads that deliver them.

`OutboxDelivery` composes the transport package (see `edge/transport/__init__.py`): one `Outbox`;
when `delivery.uplink` is set, the gRPC `Uplink` whose two lanes deliver records (events, track
summaries) and crops, each drained by its own `Sender` thread; when `delivery.mqtt` is set, the
`MqttLink` for presence (birth, will) and the heartbeat (`HeartbeatSampler`). Pipelines call
`crop`/`track`/`event` on their camera threads; each call turns the record into its protobuf
message (`edge.wire`), puts it in the outbox (fsynced, `transport.spool`), then wakes the sender.
Everything is spooled, also without a configured uplink: the outbox is the record, bounded with
counted drop-oldest, and it is delivered once the uplink is configured.

A crop over the uplink's message limit is re-encoded smaller before it is spooled
(`edge.crop_fit`); one that fits at no size is dead-lettered and counted.

`CountingDelivery` counts and discards: for local runs without a cloud (`delivery: null`).
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from edge import wire
from edge.crop_fit import fit_crop
from edge.records import CameraEvent, Crop, ModelRef, TrackSummary
from edge.transport.heartbeat import CameraSample, HeartbeatSampler, lane_metrics
from edge.transport.lane import Lane
from edge.transport.mqtt import MqttLink, MqttSettings
from edge.transport.outbox import Kind, Outbox, OutboxSettings
from edge.transport.sender import Sender, SenderSettings
from edge.transport.spool import enqueue_crop, enqueue_record
from edge.transport.uplink import Uplink, UplinkSettings
from sightline.device.v1 import command_pb2, metrics_pb2, state_pb2, status_pb2
from sightline.device.v1.topics import DeviceTopics, DownstreamTopic

logger = logging.getLogger(__name__)

# How long closing waits for each transport thread; a sender in the middle of a batch returns
# at its call deadline at the latest, and the process exit ends a daemon thread anyway.
_JOIN_TIMEOUT_S = 5.0
_DRAIN_POLL_S = 0.1


class Downstream(Protocol):
    """What receives the desired state and commands from the MQTT link (network thread)."""

    def on_message(self, topic: DownstreamTopic, payload: bytes) -> None:
        """Take one downstream message; must return at once (queue it)."""

    def on_connected(self) -> None:
        """The link connected (after its birth message); must return at once."""


class DeliverySettings(BaseModel):
    """How the agent's output reaches the cloud: the spool, the gRPC uplink and the MQTT link."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    outbox: OutboxSettings = Field(description="The on-disk spool everything goes through.")
    uplink: UplinkSettings | None = Field(
        default=None,
        description="gRPC ingest server for records (events, track summaries) and crops; null "
        "keeps them spooled.",
    )
    mqtt: MqttSettings | None = Field(
        default=None,
        description="MQTT broker for presence (status birth and will) and the heartbeat; null "
        "sends neither.",
    )
    sender: SenderSettings = Field(
        default=SenderSettings(), description="Batching and retry timing of the outbox senders."
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

    def publish_reported(self, state: state_pb2.ReportedState) -> bool:
        """No cloud to report to."""
        return False

    def publish_command_result(self, result: command_pb2.CommandResult) -> bool:
        """No cloud to answer."""
        return False

    def lanes(self) -> list[metrics_pb2.LaneMetrics]:
        """No outbox, no lanes."""
        return []

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
        tracks_interrupted: Callable[[], int] = lambda: 0,
        cameras: Callable[[], Sequence[CameraSample]] = tuple,
        downstream: Downstream | None = None,
        errors: Callable[[], tuple[int, str]] = lambda: (0, ""),
    ) -> None:
        """`camera_models`: (camera id, model) pairs announced in the birth message.
        `tracks_interrupted`, `cameras` and `errors` feed the heartbeat (see
        `HeartbeatSampler`). `downstream` receives the desired state and commands
        (`edge.deploy.agent.Deployer`)."""
        self._settings = settings
        self._device_id = device_id
        self._stop = threading.Event()
        self._outbox = Outbox(settings.outbox)
        # Without an uplink, crops are fitted to the default limit, which a later uplink
        # config most likely keeps.
        self._max_crop_bytes: int = (
            settings.uplink.max_message_bytes
            if settings.uplink is not None
            else UplinkSettings.model_fields["max_message_bytes"].default
        )
        lanes: dict[Kind, Lane] = {}
        self._uplink: Uplink | None = None
        if settings.uplink is not None:
            self._uplink = Uplink(settings.uplink)
            lanes = {"record": self._uplink.records, "crop": self._uplink.crops}
        self._sender = Sender(self._outbox, lanes, self._stop, settings.sender)
        self._link: MqttLink | None = None
        if settings.mqtt is not None:
            status = wire.status_template(
                agent_version=agent_version(),
                hardware_profile=hardware_profile,
                camera_models=camera_models,
            )

            def describe() -> status_pb2.DeviceStatus:
                return status

            heartbeat = HeartbeatSampler(
                self._outbox,
                self._sender,
                tracks_interrupted=tracks_interrupted,
                cameras=cameras,
                errors=errors,
            )
            topics = DeviceTopics(prefix=settings.mqtt.topic_prefix, site=site, device=device_id)
            self._link = MqttLink(
                settings.mqtt,
                topics,
                self._outbox,
                describe,
                self._stop,
                heartbeat,
                downstream=downstream.on_message if downstream else None,
                on_connected=downstream.on_connected if downstream else None,
            )
        self._lock = threading.Lock()
        self._queued = DeliveryStats()

    def start(self) -> None:
        """Start the MQTT link and the sender threads."""
        if self._link is not None:
            self._link.start()
        self._sender.start()
        logger.info(
            "delivery started: uplink %s, mqtt %s, %d rows spooled",
            "on" if self._uplink else "off (spooling)",
            "on" if self._link else "off",
            self._outbox.depth(),
        )

    def publish_reported(self, state: state_pb2.ReportedState) -> bool:
        """Send the device's reported state over MQTT; False without a connection."""
        return self._link is not None and self._link.publish_reported(state)

    def publish_command_result(self, result: command_pb2.CommandResult) -> bool:
        """Send a command's answer over MQTT; False without a connection."""
        return self._link is not None and self._link.publish_command_result(result)

    def crop(self, crop: Crop) -> None:
        """Spool an UploadCropsRequest keyed by the crop's detection id, re-encoded smaller if
        it is over the message limit; dead-letter it if it fits at no size."""
        request = wire.crop_request(crop, device_id=self._device_id)
        fitted = fit_crop(request, self._max_crop_bytes)
        extra = {"camera_id": crop.camera_id, "detection_id": crop.detection_id}
        if fitted is None:
            reason = (
                f"{request.ByteSize()} bytes exceed max_message_bytes {self._max_crop_bytes} "
                "even at the smallest encoding"
            )
            logger.warning("crop %s dead-lettered: %s", crop.detection_id, reason, extra=extra)
            self._outbox.reject("crop", request.detection_id, request.SerializeToString(), reason)
        else:
            if fitted is not request:
                logger.info(
                    "crop %s re-encoded from %d to %d bytes to fit max_message_bytes %d",
                    crop.detection_id, request.ByteSize(), fitted.ByteSize(),
                    self._max_crop_bytes, extra=extra,
                )  # fmt: skip
            enqueue_crop(self._outbox, fitted)
        self._queued_one(crops_queued=1)
        logger.debug(
            "crop %s spooled (%s, track %s)", crop.detection_id, crop.label, crop.track_id,
            extra=extra,
        )  # fmt: skip

    def track(self, summary: TrackSummary) -> None:
        """Spool a TrackSummary record."""
        message = wire.track_message(summary)
        enqueue_record(self._outbox, self._device_id, message)
        self._queued_one(tracks_queued=1)
        logger.debug(
            "track summary %s spooled (seq %d, %s to %s, ended %s)", summary.track_id,
            message.key.seq, summary.first_seen.isoformat(), summary.last_seen.isoformat(),
            summary.ended,
            extra={
                "camera_id": summary.camera_id, "track_id": summary.track_id,
                "seq": message.key.seq, "first_seen": summary.first_seen.isoformat(),
                "last_seen": summary.last_seen.isoformat(), "ended": summary.ended,
            },
        )  # fmt: skip

    def event(self, event: CameraEvent) -> None:
        """Spool an Event record."""
        message = wire.event_message(event)
        enqueue_record(self._outbox, self._device_id, message)
        self._queued_one(events_queued=1)
        logger.debug(
            "event %s spooled (seq %d)", event.name, message.key.seq,
            extra={"camera_id": event.camera_id, "event": event.name, "seq": message.key.seq},
        )  # fmt: skip

    def _queued_one(self, **increment: int) -> None:
        with self._lock:
            self._queued = _bump(self._queued, **increment)
        self._sender.wake()

    def drain(self, timeout_s: float, abort: threading.Event) -> bool:
        """Wait until every kind with a lane is delivered, `timeout_s` passes or `abort` is set;
        True when nothing deliverable is left."""
        kinds: list[Kind] = ["record", "crop"] if self._uplink is not None else []
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
            # Cancels an upload in flight (its rows stay spooled), so the senders stop now
            # rather than at the call's deadline.
            self._uplink.close()
        self._sender.join(_JOIN_TIMEOUT_S)
        if self._link is not None:
            self._link.join(_JOIN_TIMEOUT_S)
        self._outbox.close()

    def lanes(self) -> list[metrics_pb2.LaneMetrics]:
        """The outbox per lane, as the heartbeat reports it (for `/metrics`)."""
        return lane_metrics(self._outbox, self._sender)

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
            crops_sent=counters.delivered if counters else 0,
            tracks_queued=queued.tracks_queued,
            events_queued=queued.events_queued,
            spooled=self._outbox.depth(),
            failures=tuple(dict.fromkeys(failures)),
        )
