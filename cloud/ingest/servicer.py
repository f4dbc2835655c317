"""The `IngestService` servicer: check each crop against the wire contract, record it, ack it.

`parse_upload` checks the wire contract, `record_detection` checks the domain's rules and stores
the crop once per detection id; this module holds the stream to the authenticated device and
turns each outcome into the item's ack and, through `EmbeddingBatch`, into embed tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import grpc

from cloud.detections.services import record_detection
from cloud.ingest.auth import authenticated_device
from cloud.ingest.crops import parse_upload
from cloud.ingest.embedding_batch import EmbeddingBatch
from cloud.ingest.errors import PermissionDenied
from cloud.ingest.status import item_ack
from cloud.lib.objectstore import ObjectStore
from sightline.ingest.v1 import ingest_pb2, ingest_pb2_grpc

logger = logging.getLogger(__name__)


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    """Serves `UploadCrops` for devices authenticated by `DeviceAuthInterceptor`."""

    def __init__(self, objects: ObjectStore, *, embed_batch_size: int) -> None:
        self._objects = objects
        self._embed_batch_size = embed_batch_size

    def UploadCrops(
        self,
        request_iterator: Iterator[ingest_pb2.UploadCropsRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[ingest_pb2.UploadCropsResponse]:
        """Ack each crop as soon as it is stored; queue the stream's embeddings in batches."""
        device_id = authenticated_device()
        embeddings = EmbeddingBatch(self._embed_batch_size)
        try:
            for request in request_iterator:
                if request.device_id != device_id:
                    # Not an item error: the device is misconfigured or forging, and every
                    # later item would fail the same way, so the call fails with
                    # PERMISSION_DENIED (as ingest.proto's header says), which the edge uplink
                    # treats as permanent and surfaces.
                    raise PermissionDenied(
                        f"device {device_id!r} may not upload for {request.device_id!r}"
                    )
                yield self._store(request, embeddings)
        finally:
            # Also when the stream breaks: the rows stored so far are committed.
            embeddings.flush()

    def _store(
        self, request: ingest_pb2.UploadCropsRequest, embeddings: EmbeddingBatch
    ) -> ingest_pb2.UploadCropsResponse:
        try:
            stored = record_detection(parse_upload(request), self._objects)
        except Exception as err:
            # The item boundary: one crop's failure is its ack, never the stream's end.
            return item_ack(request.detection_id, err)
        if stored.needs_embedding:
            embeddings.add(request.detection_id)
        status = ingest_pb2.ACK_STATUS_STORED if stored.created else ingest_pb2.ACK_STATUS_DUPLICATE
        return ingest_pb2.UploadCropsResponse(detection_id=request.detection_id, status=status)
