"""Search results as the templates show them: a detection, a URL of its crop, a similarity.

`crop_cards` turns a page of detections into cards; `similar_cards` runs the similar-objects
search for one detection. Neither touches the request: the views pass in the stores.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from cloud.detections.models import Detection
from cloud.lib.objectstore import ObjectStore
from cloud.lib.vectorstore import VectorStore
from cloud.search.criteria import SearchCriteria

CROP_URL_LIFETIME: Final = timedelta(hours=1)
"""How long a page's crop links work: long enough to leave a results page open a while."""


@dataclass(frozen=True)
class CropCard:
    """One crop in a grid or list."""

    detection: Detection
    image_url: str
    """Presigned, expiring URL of the crop JPEG (the browser fetches it without a session)."""
    similarity: float | None = None
    """Cosine similarity with the query crop, in [-1, 1]; None outside similar search."""


def crop_cards(detections: Iterable[Detection], objects: ObjectStore) -> list[CropCard]:
    """One card per detection, in the given order."""
    return [_card(detection, objects) for detection in detections]


def similar_cards(
    detection: Detection,
    criteria: SearchCriteria,
    *,
    vectors: VectorStore,
    objects: ObjectStore,
    k: int,
) -> list[CropCard] | None:
    """The `k` detections most similar to `detection` that match `criteria`, best first.

    Returns None when `detection` has no vector yet (not embedded, or the store was rebuilt).
    The detection itself is never among the results. Raises what the vector store raises,
    `VectorStoreUnavailable` included.
    """
    item = vectors.get(detection.id)
    if item is None:
        return None
    hits = vectors.query(
        item.vector, k=k, filters=criteria.vector_filters(exclude_ids=[detection.id])
    )
    rows = Detection.objects.select_related("camera").in_bulk([hit.detection_id for hit in hits])
    # The database is the source of truth: a vector whose detection was deleted is skipped.
    return [
        _card(rows[hit.detection_id], objects, hit.score)
        for hit in hits
        if hit.detection_id in rows
    ]


def _card(detection: Detection, objects: ObjectStore, similarity: float | None = None) -> CropCard:
    url = objects.presigned_get_url(detection.object_key, CROP_URL_LIFETIME)
    return CropCard(detection, url, similarity)
