"""OutboxDelivery turns pipeline output into the wire messages and spools them, keyed for
idempotency; CountingDelivery only counts."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import SecretStr

from edge import wire
from edge.crop_fit import fit_crop
from edge.delivery import CountingDelivery, DeliverySettings, OutboxDelivery
from edge.geometry import Box, FrameSize, PixelRect
from edge.records import CameraEvent, Crop, EventSeverity, ModelRef, TrackSummary
from edge.transport.outbox import Outbox, OutboxSettings
from edge.transport.uplink import UplinkSettings
from sightline.device.v1 import event_pb2, track_pb2
from sightline.ingest.v1 import ingest_pb2
from tests.edge.transport.fake_ingest import TOKEN, FakeIngest, create_server

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CROP = Crop(
    detection_id="01a1ffd9-fd37-7945-914f-ab34594593bc",
    track_id="01a1ffd9-f0c3-7a9b-9076-15b38f7e0068",
    camera_id="lobby",
    frame_time=T0,
    box=Box(76.8, 57.6, 153.6, 288.0),
    crop_box=PixelRect(70, 34, 161, 312),
    frame_size=FrameSize(768, 576),
    label="person",
    score=0.84,
    jpeg=b"\xff\xd8fake-jpeg\xff\xd9",
    model=ModelRef("nanodet-g", "1"),
)
SUMMARY = TrackSummary(
    track_id=CROP.track_id,
    camera_id="lobby",
    label="person",
    first_seen=T0,
    last_seen=T0 + timedelta(seconds=2),
    best_detection_id=CROP.detection_id,
    best_score=0.84,
    box_count=20,
    ended=True,
)
EVENT = CameraEvent(
    "camera.disconnected", EventSeverity.WARNING, "lobby", T0, "rtsp://***@cam stopped", {"a": "b"}
)


@pytest.fixture
def settings(tmp_path: Path) -> DeliverySettings:
    return DeliverySettings(outbox=OutboxSettings(path=tmp_path / "outbox.sqlite"))


def spooling(settings: DeliverySettings) -> OutboxDelivery:
    return OutboxDelivery(
        settings,
        device_id="dev-1",
        site="lab",
        hardware_profile="x86-cpu",
        camera_models=[("lobby", ModelRef("nanodet-g", "1"))],
    )


def test_crops_are_spooled_as_upload_requests_keyed_by_detection_id(
    settings: DeliverySettings,
) -> None:
    delivery = spooling(settings)
    delivery.start()
    delivery.crop(CROP)
    delivery.crop(CROP)  # a repeat of the same detection is stored once
    assert delivery.stats().spooled == 1
    delivery.close()
    with Outbox(settings.outbox) as outbox:
        (row,) = outbox.peek("crop", 10)
    request = ingest_pb2.UploadCropsRequest.FromString(row.payload)
    assert row.key == request.detection_id == CROP.detection_id
    assert (request.device_id, request.camera_id, request.track_id) == (
        "dev-1",
        "lobby",
        CROP.track_id,
    )
    assert request.box.x_min == pytest.approx(0.1)
    assert request.box.y_max == pytest.approx(0.5)
    assert request.crop_box.x_min <= request.box.x_min
    assert (request.frame_size.width, request.frame_size.height) == (768, 576)
    assert request.frame_time.ToDatetime(tzinfo=UTC) == T0
    assert (request.model.name, request.model.version) == ("nanodet-g", "1")
    assert request.jpeg == CROP.jpeg


def test_summaries_and_events_are_spooled_as_records_with_message_keys(
    settings: DeliverySettings,
) -> None:
    delivery = spooling(settings)
    delivery.start()
    delivery.track(SUMMARY)
    delivery.event(EVENT)
    stats = delivery.stats()
    delivery.close()
    assert (stats.tracks_queued, stats.events_queued, stats.crops_queued) == (1, 1, 0)
    with Outbox(settings.outbox) as outbox:
        track_row, event_row = outbox.peek("record", 10)
    assert (track_row.type, event_row.type) == ("track", "event")
    track = track_pb2.TrackSummary.FromString(track_row.payload)
    assert track_row.key == f"dev-1:{track.key.seq}"
    assert track.key.device_id == "dev-1"
    assert track.best_detection_id == CROP.detection_id
    assert track.ended and track.box_count == 20
    assert track.last_seen.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=2)
    event = event_pb2.Event.FromString(event_row.payload)
    assert event.key.seq == track.key.seq + 1
    assert event.severity == event_pb2.EVENT_SEVERITY_WARNING
    assert dict(event.attributes) == {"a": "b"}


def test_each_spooled_record_is_logged_with_its_seq(
    settings: DeliverySettings, caplog: pytest.LogCaptureFixture
) -> None:
    # The fault-injection tests (tests/integration/faults) read what the agent produced from
    # these lines, as they read crops from "crop ... spooled".
    delivery = spooling(settings)
    delivery.start()
    with caplog.at_level(logging.DEBUG, logger="edge.delivery"):
        delivery.track(SUMMARY)
        delivery.event(EVENT)
    delivery.close()
    with Outbox(settings.outbox) as outbox:
        track_row, event_row = outbox.peek("record", 10)
    track_log, event_log = (r for r in caplog.records if hasattr(r, "seq"))
    assert track_log.levelno == event_log.levelno == logging.DEBUG
    track, event = vars(track_log), vars(event_log)
    assert track_row.key == f"dev-1:{track['seq']}"
    assert event_row.key == f"dev-1:{event['seq']}"
    assert f"seq {track['seq']}" in track_log.getMessage()
    assert (track["track_id"], track["first_seen"], track["last_seen"], track["ended"]) == (
        SUMMARY.track_id,
        SUMMARY.first_seen.isoformat(),
        SUMMARY.last_seen.isoformat(),
        True,
    )
    assert event["event"] == EVENT.name


def test_records_and_crops_reach_the_ingest_server_over_grpc(
    tmp_path: Path, person_crop: Callable[[], Crop]
) -> None:
    ingest = FakeIngest()
    server, port = create_server(ingest)
    uplink = UplinkSettings(target=f"127.0.0.1:{port}", token=SecretStr(TOKEN), deadline_s=5)
    settings = DeliverySettings(outbox=OutboxSettings(path=tmp_path / "o.sqlite"), uplink=uplink)
    delivery = spooling(settings)
    try:
        delivery.start()
        crop = person_crop()
        delivery.crop(crop)
        delivery.track(SUMMARY)
        delivery.event(EVENT)
        assert delivery.drain(10.0, threading.Event())
        stats = delivery.stats()
    finally:
        delivery.close()
        server.stop(grace=None)
    assert list(ingest.stored) == [crop.detection_id]
    assert sorted(request.WhichOneof("record") for request in ingest.records.values()) == [
        "event",
        "track",
    ]
    assert (stats.crops_sent, stats.spooled, stats.failures) == (1, 0, ())


def test_without_lanes_draining_has_nothing_to_wait_for(settings: DeliverySettings) -> None:
    delivery = spooling(settings)
    delivery.start()
    delivery.crop(CROP)
    assert delivery.drain(5.0, threading.Event())
    delivery.close()


def test_counting_delivery_counts_and_keeps_nothing() -> None:
    delivery = CountingDelivery()
    delivery.crop(CROP)
    delivery.crop(CROP)
    delivery.track(SUMMARY)
    stats = delivery.stats()
    assert (stats.crops_queued, stats.tracks_queued, stats.events_queued) == (2, 1, 0)
    assert stats.spooled == 0


# Crops over the message limit -------------------------------------------------------------------


def big_crop(width: int = 600, height: int = 400) -> Crop:
    """A crop whose JPEG is large: noise compresses badly."""
    noise = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    ok, jpeg = cv2.imencode(".jpg", noise, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return replace(CROP, jpeg=bytes(jpeg))


def limited(settings: DeliverySettings, max_message_bytes: int) -> DeliverySettings:
    # The uplink is never started here (no `start`): only the limit matters.
    uplink = UplinkSettings(
        target="127.0.0.1:1", token=SecretStr("t"), max_message_bytes=max_message_bytes
    )
    return settings.model_copy(update={"uplink": uplink})


def test_a_crop_over_the_message_limit_is_re_encoded_smaller_and_still_shows_its_crop_box(
    settings: DeliverySettings,
) -> None:
    crop = big_crop()
    assert len(crop.jpeg) > 200_000
    delivery = spooling(limited(settings, 60_000))
    delivery.crop(crop)
    delivery.close()
    with Outbox(settings.outbox) as outbox:
        (row,) = outbox.peek("crop", 10)
        assert outbox.dead_lettered()["crop"] == 0
    assert len(row.payload) <= 60_000
    request = ingest_pb2.UploadCropsRequest.FromString(row.payload)
    image = cv2.imdecode(np.frombuffer(request.jpeg, np.uint8), cv2.IMREAD_COLOR)
    original = wire.crop_request(crop, device_id="dev-1")
    request.ClearField("jpeg")
    original.ClearField("jpeg")
    assert request == original  # same id, same boxes: only the JPEG changed
    height, width = image.shape[:2]
    assert width / height == pytest.approx(600 / 400, rel=0.02)  # the whole crop_box, smaller


def test_a_crop_that_fits_at_no_size_is_dead_lettered_and_counted(
    settings: DeliverySettings,
) -> None:
    delivery = spooling(limited(settings, 300))  # less than the metadata and a 16 px JPEG
    delivery.crop(big_crop())
    delivery.crop(replace(CROP, detection_id="01a1ffd9-fd37-7945-914f-ab34594593bd"))
    stats = delivery.stats()
    delivery.close()
    assert stats.crops_queued == 2
    with Outbox(settings.outbox) as outbox:
        assert outbox.dead_lettered()["crop"] == 1
        (dead,) = outbox.dead_letters("crop")
        (reason,) = outbox.dead_letter_reasons("crop")
        (kept,) = outbox.peek("crop", 10)  # the small one fits as it is
    assert dead.key == CROP.detection_id
    assert reason.endswith("exceed max_message_bytes 300 even at the smallest encoding")
    assert kept.key == "01a1ffd9-fd37-7945-914f-ab34594593bd"


def test_an_undecodable_jpeg_over_the_limit_cannot_be_shrunk() -> None:
    request = wire.crop_request(replace(CROP, jpeg=b"\xff\xd8" + bytes(5000)), device_id="d")
    assert fit_crop(request, 1000) is None
    assert fit_crop(request, 100_000) is request  # fits: untouched


def test_a_crop_over_the_limit_loses_its_context_frame_before_its_crop_shrinks() -> None:
    request = wire.crop_request(replace(CROP, context_jpeg=bytes(50_000)), device_id="d")
    fitted = fit_crop(request, 10_000)
    assert fitted is not None
    assert fitted.context_jpeg == b""
    assert fitted.jpeg == CROP.jpeg  # the crop itself fits as it is: untouched
