"""Embedding stored crops into the vector store: the logic behind the `embed` tasks.

`embed_detections(ids)` is what the Celery task and `python -m cloud reembed` both run. It is
idempotent: the vector store object id is derived from the detection id, so embedding a
detection again overwrites its vector instead of adding one, and a detection embedded already
is skipped unless asked to redo it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.db.models import CharField, F
from django.utils import timezone

from cloud import backends
from cloud.detections.models import Detection
from cloud.embeddings.analysers import CropAnalyser, enabled_analysers, vector_consumers
from cloud.embeddings.recovery import recovery_settings
from cloud.lib.objectstore import ObjectNotFound, ObjectStore, ObjectStoreUnavailable
from cloud.lib.vectorstore import (
    DetectionProperties,
    VectorItem,
    VectorStore,
    VectorStoreUnavailable,
)

if TYPE_CHECKING:
    from cloud.embeddings.embedder import CropEmbedder, Image

logger = logging.getLogger(__name__)


def _build_crop_embedder() -> CropEmbedder:
    # Imported here so that processes which only enqueue tasks never load ONNX Runtime.
    from cloud.embeddings.embedder import EmbedderSettings, load_crop_embedder

    return load_crop_embedder(EmbedderSettings.model_validate(settings.EMBEDDER))


crop_embedder = backends.Once(_build_crop_embedder)
"""This process's `CropEmbedder`, loaded on first use from `settings.EMBEDDER`."""


TRANSIENT_ERRORS = (
    ObjectStoreUnavailable,
    VectorStoreUnavailable,
    OperationalError,
    InterfaceError,
)
"""Failures that a later run can fix: they fail the call but do not count as a failed run."""


@dataclass
class EmbedReport:
    """What one `embed_detections` call did, by detection id."""

    embedded: list[str] = field(default_factory=list)
    """Now in the vector store, with `Detection.embedded_at` set."""
    missing: list[str] = field(default_factory=list)
    """No such detection row (deleted after the task was queued)."""
    unreadable: list[str] = field(default_factory=list)
    """The crop object is gone or is not a JPEG the worker may decode; now marked failed."""
    given_up: list[str] = field(default_factory=list)
    """Its earlier runs all failed (or killed their worker); now marked failed."""
    skipped: list[str] = field(default_factory=list)
    """Embedded already (unless `redo`), or marked failed earlier: nothing to do."""


def embed_detections(
    detection_ids: Sequence[str],
    *,
    redo: bool = False,
    embedder: CropEmbedder | None = None,
    objects: ObjectStore | None = None,
    vectors: VectorStore | None = None,
    analysers: Sequence[CropAnalyser] | None = None,
) -> EmbedReport:
    """Embed the crops of these detections, upsert the vectors and mark the rows embedded.

    Safe to repeat with the same ids: detections embedded already are skipped (`redo` embeds
    them again, overwriting the same vectors), as are those marked failed. Transient failures
    (`TRANSIENT_ERRORS`) propagate so that the caller retries the whole call; a crop that is
    missing or not a decodable JPEG within the embedder's size bound is marked failed
    (`Detection.embed_error`) and reported, never retried.

    Every run is counted on its rows before it starts (`Detection.embed_attempts`), so that
    a run that kills the worker (out of memory, a crashing decoder) counts although nothing
    after it runs. Rows never run before (or redone) are embedded as one batch; rows run
    before without success are suspects and run one by one, so that one crop that kills its
    worker is retried alone and cannot take the others down with it; after `max_attempts`
    runs it is marked failed. A run that ends in a transient failure is not counted. The
    stores, the embedder and the crop analysers (`cloud.embeddings.analysers`) default to this
    process's configured ones.
    """
    embedder = embedder or crop_embedder()
    objects = objects or backends.object_store()
    vectors = vectors or backends.vector_store()
    analysers = enabled_analysers() if analysers is None else analysers
    max_attempts = recovery_settings().max_attempts
    report = EmbedReport()
    rows = Detection.objects.filter(pk__in=set(detection_ids)).order_by("id")
    found = {row.id: row for row in rows}
    report.missing = sorted(set(detection_ids) - found.keys())
    fresh: list[Detection] = []
    suspects: list[Detection] = []
    for row in found.values():
        if row.embed_error or (row.embedded_at is not None and not redo):
            report.skipped.append(row.id)
        elif row.embed_attempts == 0 or row.embedded_at is not None:
            fresh.append(row)  # never run, or run with success before (a redo)
        else:
            suspects.append(row)
    if fresh:
        _run(fresh, embedder, objects, vectors, analysers, report)
    for row in suspects:
        if row.embed_attempts >= max_attempts:
            reason = f"gave up after {row.embed_attempts} embed runs that did not finish"
            logger.error("detection %s: %s", row.id, reason, extra={"device_id": row.device_id})
            _mark_failed(row.id, reason)
            report.given_up.append(row.id)
        else:
            _run([row], embedder, objects, vectors, analysers, report)
    if report.missing:
        logger.info("skipped %d deleted detections", len(report.missing))
    logger.debug("embedded %d detections", len(report.embedded))
    return report


def _run(
    rows: list[Detection],
    embedder: CropEmbedder,
    objects: ObjectStore,
    vectors: VectorStore,
    analysers: Sequence[CropAnalyser],
    report: EmbedReport,
) -> None:
    """One counted run over `rows`: decode, embed, upsert, analyse, mark; see
    `embed_detections`."""
    from cloud.embeddings.embedder import UnreadableCrop, decode_jpeg

    ids = [row.id for row in rows]
    # Committed at once (autocommit), before any work that could kill the process.
    Detection.objects.filter(pk__in=ids).update(embed_attempts=F("embed_attempts") + 1)
    try:
        crops: list[tuple[Detection, Image]] = []
        for row in rows:
            try:
                data = objects.get(row.object_key)
                crops.append((row, decode_jpeg(data, max_pixels=embedder.max_crop_pixels)))
            except (ObjectNotFound, UnreadableCrop) as err:
                logger.warning(
                    "cannot embed detection %s: %s", row.id, err, extra={"device_id": row.device_id}
                )
                _mark_failed(row.id, f"crop unreadable: {err}")
                report.unreadable.append(row.id)
        if not crops:
            return
        embeddings = embedder.embed([image for _, image in crops])
        vectors.upsert(
            [
                VectorItem(row.id, vector, detection_properties(row))
                for (row, _), vector in zip(crops, embeddings, strict=True)
            ]
        )
        for analyser in analysers:
            analyser.analyse(crops)
        detections = [row for row, _ in crops]
        for consume in vector_consumers():
            consume(detections, embeddings)  # unit rows, as `CropEmbedder.embed` returns
    except TRANSIENT_ERRORS:
        # Not the crops' fault: this run does not count towards giving them up.
        Detection.objects.filter(pk__in=ids).update(embed_attempts=F("embed_attempts") - 1)
        raise
    embedded = [row.id for row, _ in crops]
    # After the upsert: a crash in between leaves the row unmarked, so the sweep (or
    # `reembed --missing`) embeds it again, which overwrites the same vector.
    Detection.objects.filter(pk__in=embedded).update(embedded_at=timezone.now())
    report.embedded.extend(embedded)


def _mark_failed(detection_id: str, reason: str) -> None:
    error_field = Detection._meta.get_field("embed_error")
    assert isinstance(error_field, CharField)
    reason = reason[: error_field.max_length]
    Detection.objects.filter(pk=detection_id).update(embed_error=reason)


def detection_properties(row: Detection) -> DetectionProperties:
    """The properties every vector of `row` is stored with (this and further collections)."""
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
    """Yield detection ids in chunks, oldest id first: all of them, or only unembedded ones;
    never those marked failed.

    Paged by primary key rather than by offset, so rows marked embedded while the caller works
    through the chunks cannot shift later pages.
    """
    detections = Detection.objects.filter(embed_error="").order_by("id")
    if missing_only:
        detections = detections.filter(embedded_at__isnull=True)
    after = ""
    while chunk := list(detections.filter(id__gt=after).values_list("id", flat=True)[:chunk_size]):
        yield chunk
        after = chunk[-1]
