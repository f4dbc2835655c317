"""Matching new crops against the enabled alerts: the embed worker's last vector consumer.

`match_new_crops` is listed last in `cloud.embeddings.analysers.VECTOR_CONSUMERS`, so it sees
what the analysers (colours) and the labels' consumers (similarity and classifier scores)
stored for the same crops. Each alert is evaluated with its owner's scope
(`cloud.access.scope.visible_camera_ids`), on the crops received after it was made; each match
becomes one `AlertEvent` (`cloud.alerts.events.record`), which queues its delivery.

Idempotent per crop, as the consumer contract asks: a retried batch finds its events made and
records nothing again. A database error propagates and the batch runs again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from django.db.models import Max

from cloud import backends
from cloud.access.scope import visible_camera_ids
from cloud.alerts.events import Match, record
from cloud.alerts.models import Alert
from cloud.alerts.saved_search import criteria, interpretation_from
from cloud.detections.models import Detection
from cloud.labels.models import Score
from cloud.search.criteria import SearchCriteria
from cloud.search.text import described
from cloud.search.vocabulary import term_sources

logger = logging.getLogger(__name__)

LABEL_SOURCES = (Score.Source.SIMILARITY, Score.Source.CLASSIFIER)
"""The scores a label alert follows: both guessers of `cloud.labels`."""


def match_new_crops(detections: Sequence[Detection], vectors: npt.NDArray[np.float32]) -> None:
    """Record a match of every enabled alert among these new crops (a `VectorConsumer`)."""
    if not detections:
        return
    alerts = list(Alert.objects.filter(enabled=True, owner__is_active=True).select_related("owner"))
    batch = _Batch(detections, vectors, alerts)
    found = {alert: matches for alert in alerts if (matches := batch.matches(alert))}
    if found:
        record(found)


class _Batch:
    """One batch of new crops, and what several alerts share about it: read once per batch
    (each owner's scope, each distinct filter set and text, the labels' scores), since the
    embed worker waits for all of it (tests/bench/bench_alerts.py)."""

    def __init__(
        self,
        rows: Sequence[Detection],
        vectors: npt.NDArray[np.float32],
        alerts: Sequence[Alert],
    ) -> None:
        self._rows = rows
        self._vectors = vectors
        self._scopes: dict[int, frozenset[int] | None] = {}
        self._criteria: dict[tuple[int, str], SearchCriteria | None] = {}
        self._described: dict[str, frozenset[str]] = {}
        labels = {alert.label_id for alert in alerts if alert.label_id is not None}
        self._scores: dict[tuple[int, str], float] = {}
        if labels:
            best = (
                Score.objects.filter(
                    label_id__in=sorted(labels),
                    detection_id__in=[row.id for row in rows],
                    source__in=LABEL_SOURCES,
                )
                .values("label_id", "detection_id")
                .annotate(best=Max("confidence"))
            )
            self._scores = {(s["label_id"], s["detection_id"]): s["best"] for s in best}

    def matches(self, alert: Alert) -> list[Match]:
        """The crops that match `alert`, in batch order: received after it was made, on a
        camera its owner may see, passing its filters, and its label's score or its text and
        example."""
        if alert.owner_id not in self._scopes:
            self._scopes[alert.owner_id] = visible_camera_ids(alert.owner)
        visible = self._scopes[alert.owner_id]
        if visible is not None and not visible:
            return []
        key = (alert.owner_id, json.dumps(alert.filters, sort_keys=True))
        if key not in self._criteria:
            self._criteria[key] = criteria(alert.filters, visible)
        searched = self._criteria[key]
        if searched is None:
            return []
        kept = [
            i
            for i, row in enumerate(self._rows)
            if row.received_at >= alert.created_at and _admits(searched, row)
        ]
        scores: dict[int, float | None] = dict.fromkeys(kept)
        if alert.label_id is not None:
            scores = {
                i: self._scores[(alert.label_id, self._rows[i].id)]
                for i in kept
                if self._scores.get((alert.label_id, self._rows[i].id), -1.0) >= alert.threshold
            }
        if alert.understood:
            described = self._text_matches(alert.understood)
            scores = {i: score for i, score in scores.items() if self._rows[i].id in described}
        if alert.example_vector is not None:
            scores = self._similar(alert, scores)
        return [Match(self._rows[i], score) for i, score in scores.items()]

    def _text_matches(self, understood: dict[str, object]) -> frozenset[str]:
        key = json.dumps(understood, sort_keys=True)
        if key not in self._described:
            found = described(
                Detection.objects.filter(pk__in=[row.id for row in self._rows]),
                interpretation_from(understood),
                term_sources(),
            ).values_list("pk", flat=True)
            self._described[key] = frozenset(found)
        return self._described[key]

    def _similar(self, alert: Alert, scores: dict[int, float | None]) -> dict[int, float | None]:
        """`scores` cut down to the crops at least `alert.threshold` similar to its example."""
        collection = backends.crop_collection()
        example = np.frombuffer(bytes(alert.example_vector or b""), dtype=np.float32)
        if alert.example_collection != collection or example.shape[0] != self._vectors.shape[1]:
            # Vectors of two embeddings never compare (docs/architecture.md, "Search").
            logger.warning(
                "alert %d: its example is a %s vector, crops are now %s; make the alert again",
                alert.pk, alert.example_collection, collection,
            )  # fmt: skip
            return {}
        similarity = self._vectors @ example
        return {i: float(similarity[i]) for i in scores if similarity[i] >= alert.threshold}


def _admits(searched: SearchCriteria, row: Detection) -> bool:
    # What SearchCriteria.admits says of a track, said of one crop: its camera and class.
    cameras = searched.cameras
    return (cameras is None or row.camera_id in cameras) and (
        searched.labels is None or row.label in searched.labels
    )
