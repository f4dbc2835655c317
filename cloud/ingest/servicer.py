"""The `IngestService` servicer: check each item against the wire contract, store it, ack it.

`parse_upload` and `store_record` check the wire contract, the services (`record_detection`,
`record_detections`, `record_event`, `record_track_summary`) the domain's rules, each once;
`cloud.ingest.items` holds the stream to the authenticated device and turns each outcome into
the item's ack. Crops stored by a stream become embed tasks through `EmbeddingBatch`.

Crops that arrive together are stored together (up to `CROP_GROUP` in one transaction, their
objects put side by side on the servicer's put threads), and so are track summaries (up to
`RECORD_GROUP`), which is what makes ingest fast: an edge sends a batch per stream, and per
item a transaction of its own cost several times the item's own statements.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import grpc

from cloud.detections.services import record_detection, record_detections
from cloud.ingest.auth import authenticated_device
from cloud.ingest.crops import parse_upload
from cloud.ingest.embedding_batch import EmbeddingBatch
from cloud.ingest.items import ItemKind, acked_items
from cloud.ingest.records import record_key, store_record, store_track_summaries
from cloud.ingest.wire import quoted
from cloud.lib.objectstore import ObjectStore
from sightline.ingest.v1 import ingest_pb2, ingest_pb2_grpc

# Crops stored in one transaction: the edge's default batch (`crop_batch`), so that one stream
# of it is usually one commit; larger groups would hold their tracks' locks longer.
CROP_GROUP: Final = 16
# How long a group waits for the rest of a batch after its first item. A batch's items reach
# the servicer one by one, a fraction of a millisecond apart on an idle server and several
# milliseconds apart on a busy one; a transaction of one crop costs several times the CPU of a
# crop in a group of 16, so waiting a little is far cheaper than not waiting. Only a client
# that waits for each ack before sending the next item waits this much longer per item.
LINGER_S: Final = 0.005
# Records stored in one transaction: the edge's default batch (`record_batch`). Mostly track
# summaries, several per track, which one transaction stores with a statement per track.
RECORD_GROUP: Final = 50
# Object puts in flight at once, over all streams: each waits on the object store, not on the
# CPU. The S3 store's connection pool must hold these plus the upload streams' own.
PUT_THREADS: Final = 16
# A group's puts run side by side only while at most this many crop streams are open: then
# they cut the stream's wait for its acks (a lone device catching up waits for nothing else).
# With more streams, the streams keep the store busy on their own, and handing each put to
# another thread and back cost more CPU than it saved (bench_ingest, 8 devices).
PARALLEL_PUTS_UP_TO: Final = 2

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
        self,
        objects: ObjectStore,
        puts: ThreadPoolExecutor,
        *,
        embed_batch_size: int,
        max_crop_pixels: int,
    ) -> None:
        """`puts` runs the object puts of a group of crops side by side; `max_crop_pixels` is
        the most pixels a crop's JPEG may declare (`parse_upload`)."""
        self._objects = objects
        self._puts = puts
        self._embed_batch_size = embed_batch_size
        self._max_crop_pixels = max_crop_pixels
        self._crop_streams = 0
        self._lock = threading.Lock()

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

        def store_all(requests: Sequence[ingest_pb2.UploadCropsRequest]) -> list[bool]:
            detections = [
                parse_upload(request, max_crop_pixels=self._max_crop_pixels) for request in requests
            ]
            few = self._crop_streams <= PARALLEL_PUTS_UP_TO
            record_detections(detections, self._objects, self._puts if few else None)
            for detection in detections:
                embeddings.add(detection.id)
            return [True] * len(detections)

        with self._lock:
            self._crop_streams += 1
        try:
            yield from acked_items(
                request_iterator,
                authenticated_device(),
                CROPS,
                store,
                store_all=store_all,
                group_size=CROP_GROUP,
                linger_s=LINGER_S,
            )
        finally:
            with self._lock:
                self._crop_streams -= 1
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
            request_iterator,
            device_id,
            RECORDS,
            lambda request: store_record(device_id, request),
            store_all=lambda requests: store_track_summaries(device_id, requests),
            group_size=RECORD_GROUP,
            linger_s=LINGER_S,
        )
