"""The `IngestService` servicer: check each item against the wire contract, store it, ack it.

`parse_upload` and `store_record` check the wire contract, the services (`record_detection`,
`record_event`, `record_track_summary`) the domain's rules, each once; `cloud.ingest.items`
holds the stream to the authenticated device and turns each outcome into the item's ack. Crops
stored by a stream become embed tasks through `EmbeddingBatch`.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from cloud.detections.services import record_detection
from cloud.ingest.auth import authenticated_device
from cloud.ingest.crops import parse_upload
from cloud.ingest.embedding_batch import EmbeddingBatch
from cloud.ingest.items import ItemKind, acked_items
from cloud.ingest.records import record_key, store_record
from cloud.ingest.wire import quoted
from cloud.lib.objectstore import ObjectStore
from sightline.ingest.v1 import ingest_pb2, ingest_pb2_grpc

CROPS: ItemKind[ingest_pb2.UploadCropsRequest, ingest_pb2.UploadCropsResponse] = ItemKind(
    name="crop",
    item_id=lambda request: quoted(request.detection_id),
    device_id=lambda request: request.device_id,
    ack=lambda request, status, message: ingest_pb2.UploadCropsResponse(
        detection_id=request.detection_id, status=status, message=message
    ),
)


def _record_device(request: ingest_pb2.UploadRecordsRequest) -> str | None:
    key = record_key(request)
    return None if key is None else key.device_id


def _record_seq(request: ingest_pb2.UploadRecordsRequest) -> int:
    key = record_key(request)
    # A request without a key is answered with seq 0, which no record of the edge carries.
    return 0 if key is None else key.seq


RECORDS: ItemKind[ingest_pb2.UploadRecordsRequest, ingest_pb2.UploadRecordsResponse] = ItemKind(
    name="record",
    item_id=lambda request: str(_record_seq(request)),
    device_id=_record_device,
    ack=lambda request, status, message: ingest_pb2.UploadRecordsResponse(
        seq=_record_seq(request), status=status, message=message
    ),
)


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    """Serves `UploadCrops` and `UploadRecords` for devices authenticated by
    `DeviceAuthInterceptor`."""

    def __init__(
        self, objects: ObjectStore, *, embed_batch_size: int, max_crop_pixels: int
    ) -> None:
        """`max_crop_pixels`: the most pixels a crop's JPEG may declare (`parse_upload`)."""
        self._objects = objects
        self._embed_batch_size = embed_batch_size
        self._max_crop_pixels = max_crop_pixels

    def UploadCrops(
        self,
        request_iterator: Iterator[ingest_pb2.UploadCropsRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[ingest_pb2.UploadCropsResponse]:
        """Ack each crop as soon as it is stored; queue the stream's embeddings in batches."""
        embeddings = EmbeddingBatch(self._embed_batch_size)

        def store(request: ingest_pb2.UploadCropsRequest) -> bool:
            detection = parse_upload(request, max_crop_pixels=self._max_crop_pixels)
            stored = record_detection(detection, self._objects)
            if stored.needs_embedding:
                embeddings.add(request.detection_id)
            return stored.created

        try:
            yield from acked_items(request_iterator, authenticated_device(), CROPS, store)
        finally:
            # Also when the stream breaks: the rows stored so far are committed.
            embeddings.flush()

    def UploadRecords(
        self,
        request_iterator: Iterator[ingest_pb2.UploadRecordsRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[ingest_pb2.UploadRecordsResponse]:
        """Ack each event or track summary as soon as it is stored."""
        device_id = authenticated_device()
        yield from acked_items(
            request_iterator, device_id, RECORDS, lambda request: store_record(device_id, request)
        )
