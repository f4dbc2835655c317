"""Embedding stored crops into the vector store: the logic behind the `embed` tasks.

`embed_detections(ids)` is what the Celery task and `python -m cloud reembed` both run. It is
idempotent: the vector store object id is derived from the detection id, so embedding a
detection again overwrites its vector instead of adding one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from cloud import backends
from cloud.detections.models import Detection
from cloud.lib.objectstore import ObjectNotFound, ObjectStore
from cloud.lib.vectorstore import DetectionProperties, VectorItem, VectorStore

if TYPE_CHECKING:
    from cloud.embeddings.embedder import CropEmbedder, Image

logger = logging.getLogger(__name__)


def _build_crop_embedder() -> CropEmbedder:
    # Imported here so that processes which only enqueue tasks never load ONNX Runtime.
    from cloud.embeddings.embedder import EmbedderSettings, load_crop_embedder

    return load_crop_embedder(EmbedderSettings.model_validate(settings.EMBEDDER))


crop_embedder = backends.Once(_build_crop_embedder)
"""This process's `CropEmbedder`, loaded on first use from `settings.EMBEDDER`."""


@dataclass
class EmbedReport:
    """What one `embed_detections` call did, by detection id."""

    embedded: list[str] = field(default_factory=list)
    """Now in the vector store, with `Detection.embedded_at` set."""
    missing: list[str] = field(default_factory=list)
    """No such detection row (deleted after the task was queued)."""
    unreadable: list[str] = field(default_factory=list)
    """The crop object is gone or does not decode; embedding it again cannot help."""


def embed_detections(
    detection_ids: Sequence[str],
    *,
    embedder: CropEmbedder | None = None,
    objects: ObjectStore | None = None,
    vectors: VectorStore | None = None,
) -> EmbedReport:
    """Embed the crops of these detections, upsert the vectors and mark the rows embedded.

    Safe to repeat with the same ids. Transient failures (`ObjectStoreUnavailable`,
    `VectorStoreUnavailable`, database errors) propagate so that the caller retries the whole
    call; a crop that is missing or does not decode is logged and reported, never retried. The
    stores and the embedder default to this process's configured ones.
    """
    from cloud.embeddings.embedder import UnreadableCrop, decode_jpeg

    embedder = embedder or crop_embedder()
    objects = objects or backends.object_store()
    vectors = vectors or backends.vector_store()
    report = EmbedReport()
    rows = Detection.objects.filter(pk__in=set(detection_ids))
    found = {row.id: row for row in rows}
    report.missing = sorted(set(detection_ids) - found.keys())
    crops: list[tuple[Detection, Image]] = []
    for row in found.values():
        try:
            crops.append((row, decode_jpeg(objects.get(row.object_key))))
        except (ObjectNotFound, UnreadableCrop) as err:
            logger.warning(
                "cannot embed detection %s: %s", row.id, err, extra={"device_id": row.device_id}
            )
            report.unreadable.append(row.id)
    if crops:
        embeddings = embedder.embed([image for _, image in crops])
        vectors.upsert(
            [
                VectorItem(row.id, vector, _properties(row))
                for (row, _), vector in zip(crops, embeddings, strict=True)
            ]
        )
        report.embedded = [row.id for row, _ in crops]
        # After the upsert: a crash in between leaves the row unmarked, so `reembed --missing`
        # embeds it again, which overwrites the same vector.
        Detection.objects.filter(pk__in=report.embedded).update(embedded_at=timezone.now())
    if report.missing:
        logger.info("skipped %d deleted detections", len(report.missing))
    logger.debug("embedded %d detections", len(report.embedded))
    return report


def _properties(row: Detection) -> DetectionProperties:
    # camera_id is the Camera primary key: edge camera ids repeat across devices, and search
    # filters (camera groups) must name exactly one camera.
    return DetectionProperties(
        device_id=row.device_id,
        camera_id=str(row.camera_id),
        track_id=row.track_id,
        label=row.label,
        ts=row.ts,
    )


def detection_ids_to_embed(*, missing_only: bool, chunk_size: int) -> Iterator[list[str]]:
    """Yield detection ids in chunks, oldest id first: all of them, or only unembedded ones.

    Paged by primary key rather than by offset, so rows marked embedded while the caller works
    through the chunks cannot shift later pages.
    """
    detections = Detection.objects.order_by("id")
    if missing_only:
        detections = detections.filter(embedded_at__isnull=True)
    after = ""
    while chunk := list(detections.filter(id__gt=after).values_list("id", flat=True)[:chunk_size]):
        yield chunk
        after = chunk[-1]
