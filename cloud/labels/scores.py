"""Writing `Score` rows: the one place that both sources (similarity suggestions, learned
classifiers) store their confidences through."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from cloud.detections.models import Detection
from cloud.labels.models import Score

WRITE_BATCH: Final = 500
"""Rows per INSERT statement."""


def upsert_scores(
    label_id: int,
    source: Score.Source,
    confidences: Mapping[str, float],
    *,
    version: int,
    at: datetime,
    tracks: Mapping[str, str] | None = None,
) -> int:
    """Insert or overwrite the label's `source` scores of these crops (one row each); return
    how many were written.

    Each row carries its crop's track, which search's label filter needs: from `tracks`
    (crop id -> track id) when the caller has the rows at hand (new crops), else read here in
    one query, which skips a crop deleted meanwhile (its score would point at nothing).
    """
    if tracks is None:
        tracks = dict(
            Detection.objects.filter(pk__in=list(confidences)).values_list("pk", "track_id")
        )
    rows = [
        Score(
            label_id=label_id,
            detection_id=detection_id,
            track_id=tracks[detection_id],
            source=source,
            confidence=confidence,
            version=version,
            updated_at=at,
        )
        for detection_id, confidence in confidences.items()
        if detection_id in tracks
    ]
    Score.objects.bulk_create(
        rows,
        batch_size=WRITE_BATCH,
        update_conflicts=True,
        unique_fields=("label", "detection", "source"),
        update_fields=("confidence", "version", "updated_at"),
    )
    return len(rows)
