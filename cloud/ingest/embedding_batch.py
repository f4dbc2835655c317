"""Turning the detections one upload stream stored into a few embed tasks.

`EmbeddingBatch` collects the ids that `record_detection` says still need an embedding and sends
them as `embed_detections` tasks of up to `EMBED_BATCH_SIZE` ids.
"""

from __future__ import annotations

import logging

from kombu.exceptions import OperationalError as BrokerError

from cloud.embeddings.tasks import embed_detections

logger = logging.getLogger(__name__)

# Crops per embed task: enough to fill the embedder's batch, few enough that one task stays
# short and a retry repeats little work.
EMBED_BATCH_SIZE = 32


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
