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

import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db.models import Max

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
    scopes: dict[int, frozenset[int] | None] = {}
    for alert in alerts:
        if alert.owner_id not in scopes:
            scopes[alert.owner_id] = visible_camera_ids(alert.owner)
        fresh = [i for i, row in enumerate(detections) if row.received_at >= alert.created_at]
        if not fresh:
            continue
        rows = [detections[i] for i in fresh]
        matches = alert_matches(alert, rows, vectors[fresh], scopes[alert.owner_id])
        if matches:
            record(alert, matches)


def alert_matches(
    alert: Alert,
    rows: Sequence[Detection],
    vectors: npt.NDArray[np.float32],
    visible: frozenset[int] | None,
) -> list[Match]:
    """The crops among `rows` (row i's unit vector is `vectors[i]`) that match `alert` for an
    owner who sees the cameras `visible` (None: all), in the order given."""
    if visible is not None and not visible:
        return []
    searched = criteria(alert.filters, visible)
    if searched is None:
        return []
    kept = [i for i, row in enumerate(rows) if _admits(searched, row)]
    scores: dict[str, float | None] = {rows[i].id: None for i in kept}
    if alert.label_id is not None:
        best = (
            Score.objects.filter(
                label_id=alert.label_id,
                detection_id__in=list(scores),
                source__in=LABEL_SOURCES,
                confidence__gte=alert.threshold,
            )
            .values("detection_id")
            .annotate(best=Max("confidence"))
        )
        scores = {row["detection_id"]: row["best"] for row in best}
    else:
        if alert.understood and scores:
            found = described(
                Detection.objects.filter(pk__in=list(scores)),
                interpretation_from(alert.understood),
                term_sources(),
            ).values_list("pk", flat=True)
            scores = {pk: None for pk in found}
        if alert.example_vector is not None and scores:
            scores = _similar(alert, rows, vectors, scores)
    return [Match(rows[i], scores[rows[i].id]) for i in kept if rows[i].id in scores]


def _admits(searched: SearchCriteria, row: Detection) -> bool:
    # What SearchCriteria.admits says of a track, said of one crop: its camera and class.
    cameras = searched.cameras
    return (cameras is None or row.camera_id in cameras) and (
        searched.labels is None or row.label in searched.labels
    )


def _similar(
    alert: Alert,
    rows: Sequence[Detection],
    vectors: npt.NDArray[np.float32],
    scores: dict[str, float | None],
) -> dict[str, float | None]:
    """`scores` cut down to the crops at least `alert.threshold` similar to its example."""
    collection = settings.VECTOR_STORE["collection"]
    example = np.frombuffer(bytes(alert.example_vector or b""), dtype=np.float32)
    if alert.example_collection != collection or example.shape[0] != vectors.shape[1]:
        # Vectors of two embeddings never compare (docs/architecture.md, "Search").
        logger.warning(
            "alert %d: its example is a %s vector, crops are now %s; make the alert again",
            alert.pk, alert.example_collection, collection,
        )  # fmt: skip
        return {}
    similarity = vectors @ example
    return {
        row.id: float(cosine)
        for row, cosine in zip(rows, similarity.tolist(), strict=True)
        if row.id in scores and cosine >= alert.threshold
    }
