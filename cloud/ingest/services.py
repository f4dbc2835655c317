"""What the ingest edges do with a device's data, in the order that keeps retries safe.

`store_crop` (gRPC) writes the JPEG before the row, so a row never names a missing object, and
reports whether the crop still needs an embedding; `EmbeddingBatch` turns those into embed
tasks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kombu.exceptions import OperationalError as BrokerError

from cloud.detections.models import Detection
from cloud.detections.services import record_detection
from cloud.embeddings.tasks import embed_detections
from cloud.errors import InvalidInput, NotFound
from cloud.ingest.crops import CropUpload
from cloud.lib.objectstore import ObjectStore

logger = logging.getLogger(__name__)

# Crops per embed task: enough to fill the embedder's batch, few enough that one task stays
# short and a retry repeats little work.
EMBED_BATCH_SIZE = 32


@dataclass(frozen=True)
class StoredCrop:
    """The outcome of `store_crop`."""

    created: bool
    """True when this call recorded the detection; False for a repeat of a stored one."""
    needs_embedding: bool
    """True unless the detection's vector is already in the vector store."""


def store_crop(upload: CropUpload, objects: ObjectStore) -> StoredCrop:
    """Store the JPEG, then the detection row; idempotent on the detection id.

    A repeat of a recorded detection touches nothing (the row and its object are already in
    place, and the first payload wins). Raises `InvalidInput` / `NotFound` for a crop that can
    never be stored, and the stores' or database's own errors for transient failures, after
    which nothing refers to the (harmless, overwritable) object.
    """
    detection = upload.detection
    existing = Detection.objects.filter(pk=detection.id).values("embedded_at").first()
    if existing is not None:
        return StoredCrop(created=False, needs_embedding=existing["embedded_at"] is None)
    objects.put(upload.key, upload.jpeg, content_type="image/jpeg")
    try:
        created = record_detection(detection)
    except (InvalidInput, NotFound):
        # The row was refused for good, so nothing will ever point at the object.
        objects.delete(upload.key)
        raise
    # created is False only when a concurrent upload of the same id won the race; the embed
    # task is idempotent, so asking for it once more is harmless.
    return StoredCrop(created=created, needs_embedding=True)


class EmbeddingBatch:
    """Collects detection ids and sends them as embed tasks of up to `size` ids.

    One per upload stream: an edge uploads a batch of crops per stream, so this turns one
    stream into one or a few tasks instead of one task per crop.
    """

    def __init__(self, size: int = EMBED_BATCH_SIZE) -> None:
        self._size = size
        self._ids: list[str] = []

    def add(self, detection_id: str) -> None:
        """Queue an id; sends a task as soon as `size` ids are waiting."""
        self._ids.append(detection_id)
        if len(self._ids) >= self._size:
            self.flush()

    def flush(self) -> None:
        """Send the waiting ids as one task, if there are any.

        The rows are committed already, so a broker outage must not fail the upload: the ids
        are logged and left with `embedded_at` unset, where `python -m cloud reembed --missing`
        finds them.
        """
        ids, self._ids = self._ids, []
        if not ids:
            return
        try:
            embed_detections.delay(ids)
        except BrokerError:
            logger.exception(
                "could not enqueue embedding of %d detections (first %s); "
                "run `python -m cloud reembed --missing` once the broker is back",
                len(ids),
                ids[0],
            )
