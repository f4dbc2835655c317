"""Property-based fuzzing of every MQTT payload the cloud accepts, through the bridge.

Whatever a device publishes on its `status`, `metrics` or `reported` topic (arbitrary bytes, or
a message with hostile fields: see `tests.cloud.ingest.hostile`), and whatever topic it
arrives on, the bridge's `process` applies it or drops and counts it, never raises and never
retries; a dropped message changes nothing; the next device's message is applied all the same;
and the database holds only well-formed rows afterwards.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cloud.fleet.models import Device, DeviceHealth, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.ingest.bridge import MqttBridge, MqttBridgeSettings
from cloud.lib.objectstore import ObjectStore
from sightline.backoff import BackoffSettings
from sightline.device.v1 import key_pb2, metrics_pb2
from sightline.device.v1.topics import Upstream
from tests.cloud.ingest.hostile import (
    metrics_messages,
    payloads,
    reported_messages,
    status_messages,
    texts,
)
from tests.cloud.ingest.well_formed import OrmStores, problems

DEVICE, OTHER = "gate-01", "gate-02"
RECEIVED = datetime(2026, 11, 21, 11, 0, tzinfo=UTC)
# The examples of one test share its fixtures and its database transaction: each example checks
# what it changed against a snapshot taken before it.
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# What a bridge may count for a message of a provisioned device. "refused_by_database" would
# be a check missing before the store, "failed" a bug: neither may happen.
ACCEPTABLE = {"applied", "ignored", "malformed", "unknown_topic"}

messages = st.one_of(
    st.tuples(st.just(Upstream.STATUS), payloads(status_messages(DEVICE))),
    st.tuples(st.just(Upstream.METRICS), payloads(metrics_messages(DEVICE))),
    st.tuples(st.just(Upstream.REPORTED), payloads(reported_messages(DEVICE))),
)


@pytest.fixture
def devices(db: None) -> None:
    for device_id in (DEVICE, OTHER):
        Device.objects.create(
            id=device_id, site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
        )


@pytest.fixture
def bridge() -> MqttBridge:
    # A retry would mean a message the bridge takes for a database outage: it must not wait.
    return MqttBridge(
        MqttBridgeSettings(host="127.0.0.1", retry=BackoffSettings(initial_s=60, max_s=60))
    )


@pytest.fixture
def heartbeat_seq() -> Iterator[int]:
    """Sequence numbers of the other device's heartbeats, growing across examples."""
    return itertools.count(1)


def state() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return (
        list(Device.objects.order_by("pk").values()),
        list(DeviceHealth.objects.order_by("pk").values()),
    )


def process(bridge: MqttBridge, topic: str, payload: bytes) -> str:
    """Let the bridge process one message; return what it counted."""
    before = Counter(bridge.counts)
    # A stop already set: a retry (a failure taken for an outage) returns False at once.
    assert bridge.process(topic, payload, RECEIVED, threading.Event())
    (outcome,) = (bridge.counts - before).elements()
    return outcome


def the_next_device_is_applied(bridge: MqttBridge, seq: int) -> None:
    """Another device's valid heartbeat is applied: nothing stalled behind a hostile one."""
    heartbeat = metrics_pb2.Metrics(key=key_pb2.MessageKey(device_id=OTHER, seq=seq))
    heartbeat.time.FromDatetime(RECEIVED)
    assert process(bridge, f"sightline/v1/hq/{OTHER}/metrics", heartbeat.SerializeToString()) == (
        "applied"
    )


@FUZZ
@given(message=messages)
def test_any_payload_is_applied_or_dropped_and_counted(
    devices: None,
    bridge: MqttBridge,
    heartbeat_seq: Iterator[int],
    objects: ObjectStore,
    message: tuple[Upstream, bytes],
) -> None:
    leaf, payload = message
    # Each message meets a device without state, so that the valid ones are applied rather
    # than found stale after an earlier example's.
    DeviceHealth.objects.filter(device_id=DEVICE).delete()
    Device.objects.filter(pk=DEVICE).update(status_seq=None, last_seen=None, agent_version="")
    before = state()
    outcome = process(bridge, f"sightline/v1/hq/{DEVICE}/{leaf}", payload)
    event(f"{leaf}: {outcome}")
    assert outcome in ACCEPTABLE
    if outcome != "applied":
        assert state() == before
    the_next_device_is_applied(bridge, next(heartbeat_seq))
    assert problems(OrmStores(objects), set()) == set()


topics = st.one_of(
    st.lists(texts, max_size=7).map("/".join),
    st.tuples(
        st.sampled_from(["sightline/v1", "sightline/v2", "x/v1"]), st.lists(texts, max_size=4)
    ).map(lambda parts: "/".join([parts[0], *parts[1]])),
    st.tuples(texts, texts, st.sampled_from([*Upstream, "events", "tracks", "cmd"])).map(
        lambda levels: f"sightline/v1/{levels[0]}/{levels[1]}/{levels[2]}"
    ),
)


@settings(FUZZ, max_examples=150)
@given(topic=topics, payload=payloads(status_messages(DEVICE)))
def test_any_topic_is_handled_or_ignored_and_counted(
    devices: None,
    bridge: MqttBridge,
    heartbeat_seq: Iterator[int],
    objects: ObjectStore,
    topic: str,
    payload: bytes,
) -> None:
    before = state()
    outcome = process(bridge, topic, payload)
    event(outcome)
    # A topic may name any device (an unknown one, or a provisioned one whose key differs).
    assert outcome in ACCEPTABLE | {"unknown_device"}
    if outcome != "applied":
        assert state() == before
    the_next_device_is_applied(bridge, next(heartbeat_seq))
    assert problems(OrmStores(objects), set()) == set()
