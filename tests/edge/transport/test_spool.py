"""Queuing wire messages: MQTT messages get a fresh MessageKey, crops are keyed by detection id."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from edge.transport.outbox import Outbox
from edge.transport.spool import enqueue, enqueue_crop
from sightline.device.v1 import event_pb2, key_pb2
from sightline.device.v1.topics import DeviceTopics, Upstream
from sightline.ingest.v1 import ingest_pb2

TOPICS = DeviceTopics(prefix="sightline", site="lobby", device="box-1")


def test_enqueue_stamps_a_fresh_key_and_spools_for_the_topic(outbox: Outbox) -> None:
    first = event_pb2.Event(name="camera.disconnected", camera_id="cam-1")
    second = event_pb2.Event(name="camera.connected", camera_id="cam-1")
    enqueue(outbox, TOPICS, TOPICS.upstream(Upstream.EVENTS), first)
    enqueue(outbox, TOPICS, TOPICS.upstream(Upstream.EVENTS), second)
    rows = outbox.peek("mqtt", 10)
    assert [(row.key, row.topic) for row in rows] == [
        ("box-1:1", "sightline/v1/lobby/box-1/events"),
        ("box-1:2", "sightline/v1/lobby/box-1/events"),
    ]
    spooled = event_pb2.Event.FromString(rows[0].payload)
    assert spooled.key == key_pb2.MessageKey(device_id="box-1", seq=1)
    assert spooled.name == "camera.disconnected"


def test_enqueue_refuses_another_devices_topic(outbox: Outbox) -> None:
    foreign = DeviceTopics(prefix="sightline", site="lobby", device="box-2")
    with pytest.raises(ValueError, match="is not a topic of device 'box-1'"):
        enqueue(outbox, TOPICS, foreign.upstream(Upstream.EVENTS), event_pb2.Event())
    assert outbox.depth() == 0


def test_a_crop_is_spooled_once_under_its_detection_id(
    outbox: Outbox, make_crop: Callable[[], ingest_pb2.UploadCropsRequest]
) -> None:
    request = make_crop()
    first = enqueue_crop(outbox, request)
    assert enqueue_crop(outbox, request) == first  # a repeat stores nothing
    (row,) = outbox.peek("crop", 10)
    assert (row.id, row.key, row.topic) == (first, request.detection_id, "")
    assert ingest_pb2.UploadCropsRequest.FromString(row.payload) == request
