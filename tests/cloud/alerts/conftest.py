"""Fixtures for alerts: crops recorded as ingest records them, an owner, queued deliveries."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from django.contrib.auth.models import User

from cloud.access.models import Role
from cloud.alerts.events import Match, record
from cloud.alerts.models import Alert, AlertEvent
from cloud.detections.models import Detection
from cloud.detections.services import NewDetection, record_detection
from cloud.fleet.models import Device
from cloud.labels.models import Label
from cloud.lib.objectstore import ObjectStore
from tests.users import make_user

AddCrop = Callable[..., Detection]


@pytest.fixture
def add_crop(
    provisioned_device: Device, objects: ObjectStore, make_detection: Callable[..., NewDetection]
) -> AddCrop:
    """Record a crop of a track of its own (`add_crop(camera_id="yard", label="car")`)."""
    numbers = itertools.count(1)

    def add(**changes: Any) -> Detection:
        number = next(numbers)
        changes.setdefault("track_id", str(uuid.UUID(int=10_000 + number)))
        detection = make_detection(id=str(uuid.UUID(int=number)), **changes)
        assert record_detection(detection, objects).created
        return Detection.objects.select_related("camera__device").get(pk=detection.id)

    return add


@pytest.fixture
def owner(db: None) -> User:
    """A labeler who sees every camera."""
    return make_user("ana", Role.LABELER)


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ids of events whose webhook delivery was queued (instead of sending the tasks)."""
    sent: list[int] = []
    monkeypatch.setattr("cloud.alerts.events.deliver_webhook", SimpleNamespace(delay=sent.append))
    return sent


@dataclass
class Receiver:
    """A real local HTTP server answering every POST with `status` and keeping what it got."""

    status: int = 200
    location: str = ""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a free port of 127.0.0.1, stopped after the test."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            state.received.append((dict(self.headers.items()), self.rfile.read(length)))
            self.send_response(state.status)
            if state.location:
                self.send_header("Location", state.location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def event(owner: User, add_crop: AddCrop, queued: list[int], receiver: Receiver) -> AlertEvent:
    """A label alert's event for a new crop, its webhook `receiver`'s, as the task reads it."""
    van = Label.objects.create(name="van")
    alert = Alert.objects.create(
        owner=owner, name="vans", kind="label", label=van, webhook_url=receiver.url
    )
    (made,) = record({alert: [Match(add_crop(), 0.97)]})
    return AlertEvent.objects.select_related("alert__label", "detection__camera__device").get(
        pk=made.pk
    )


def unit(*values: float) -> npt.NDArray[np.float32]:
    """`values` as a unit float32 vector."""
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)
