"""Suggestions test data: crops with fixed 4-d vectors on the embedded vector store, and a label.

Vectors lie in the x-y plane at a chosen cosine from the label's positive (1, 0, 0, 0), so the
expected confidence is worked out by hand: (cosine - 0.9) / 0.1 at the default thresholds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from cloud import backends
from cloud.access.models import Role
from cloud.detections.models import Detection
from cloud.detections.services import NewDetection
from cloud.fleet.models import Device
from cloud.labels.models import Label, Mark, MarkEvent, Score, Value
from cloud.lib.objectstore.local import LocalObjectStore, LocalObjectStoreSettings
from cloud.lib.vectorstore.embedded import EmbeddedVectorStore, EmbeddedVectorStoreSettings
from tests.cloud.search.data import DIMENSION, SearchData, vtest_crop_jpeg
from tests.users import make_user

POSITIVE = (1.0, 0.0, 0.0, 0.0)


def at(cosine: float, *, flip: bool = False) -> tuple[float, float, float, float]:
    """A unit vector at `cosine` from the positive (on the other side of it when `flip`)."""
    side = float(np.sqrt(1.0 - cosine**2))
    return (cosine, -side if flip else side, 0.0, 0.0)


def turned(degrees: float) -> tuple[float, float, float, float]:
    """A unit vector `degrees` from the positive, in the same plane."""
    radians = np.radians(degrees)
    return (float(np.cos(radians)), float(np.sin(radians)), 0.0, 0.0)


def mark(label: Label, detection: Detection, value: Value, user: User | None = None) -> None:
    """A mark made directly, with its event (what the mark service writes)."""
    now = timezone.now()
    Mark.objects.update_or_create(
        label=label, detection=detection, defaults={"value": value, "by": user, "at": now}
    )
    MarkEvent.objects.create(
        label=label, detection=detection, batch=uuid.uuid4(), after=value, by=user, at=now
    )


def similarity_scores(label: Label) -> dict[str, float]:
    """The label's similarity scores by detection id, rounded to 3 places."""
    return {
        score.detection_id: round(score.confidence, 3)
        for score in Score.objects.filter(label=label, source=Score.Source.SIMILARITY)
    }


@pytest.fixture
def data(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    provisioned_device: Device,
    make_detection: Callable[..., NewDetection],
) -> Iterator[SearchData]:
    """Empty stores installed as `cloud.backends`' object store and vector store."""
    objects = LocalObjectStore(
        LocalObjectStoreSettings(type="local", root=tmp_path / "objects", url_signing_key="k" * 32)
    )
    objects.ensure_bucket()
    vectors = EmbeddedVectorStore(
        EmbeddedVectorStoreSettings(path=Path(":memory:")), dimension=DIMENSION
    )
    vectors.ensure_collection()
    monkeypatch.setattr(backends, "object_store", lambda: objects)
    monkeypatch.setattr(backends, "vector_store", lambda: vectors)
    yield SearchData(objects, vectors, make_detection, vtest_crop_jpeg())
    vectors.close()


@pytest.fixture
def label(db: None) -> Label:
    return Label.objects.create(name="Red jacket")


@pytest.fixture
def labeler(db: None) -> User:
    return make_user("labeler", Role.LABELER)
