"""One example of each gRPC ingest fuzzer, on any server and stores: send, answer, check.

Each example sends one hostile item (a crop or a record from `tests.cloud.ingest.hostile`, or
arbitrary bytes) and then a valid one, as the authenticated device, and checks:

- the hostile item is answered STORED, DUPLICATE or REJECTED_INVALID, never RETRY_LATER (which
  would bring it back forever) and never "refused by the database" (a check missing before the
  store); one that names another device ends its stream with PERMISSION_DENIED, and bytes that
  do not decode end it with INVALID_ARGUMENT;
- a refused item stores nothing, in the database or the object store;
- the valid item after it is stored: nothing stalls;
- nothing the example changed is ill-formed (`tests.cloud.ingest.well_formed.problems`). Each
  example answers only for what it changed, so that a failing one shrinks on its own rather
  than failing every later example of the shared stores.

The unit fuzzers run them on SQLite and a local object store, the integration fuzzers on
PostgreSQL and S3 through `python -m cloud ingest_grpc`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from hypothesis import event

from sightline.ingest.v1 import ingest_pb2
from tests.cloud.ingest.hostile import fresh_id
from tests.cloud.ingest.uploads import DEADLINE_S, Ingest, crop_request, track_request
from tests.cloud.ingest.well_formed import StoreView, problems

STORED = ingest_pb2.ACK_STATUS_STORED
DUPLICATE = ingest_pb2.ACK_STATUS_DUPLICATE
REJECTED = ingest_pb2.ACK_STATUS_REJECTED_INVALID
ANSWERS = (STORED, DUPLICATE, REJECTED)
"""What a hostile item may be answered."""


def snapshot(stores: StoreView) -> dict[str, Any]:
    """Everything an item can change: rows and stored objects."""
    return {
        "detections": {row["id"] for row in stores.rows("detections_detection")},
        "tracks": {row["id"]: row for row in stores.rows("detections_track")},
        "cameras": {(row["device_id"], row["edge_id"]) for row in stores.rows("fleet_camera")},
        "events": {(row["device_id"], row["seq"]) for row in stores.rows("fleet_deviceevent")},
        "objects": stores.object_keys(),
    }


class Example:
    """The stores before one example, to check what the example changed."""

    def __init__(self, stores: StoreView) -> None:
        self.stores = stores
        self.before = snapshot(stores)
        self._problems = problems(stores, self.before["objects"])

    def after(self, *valid: ingest_pb2.UploadCropsRequest, track_id: str = "") -> dict[str, Any]:
        """The stores now, less what the valid crops (or the valid track) added."""
        state = snapshot(self.stores)
        ids = {request.detection_id for request in valid}
        tracks = {request.track_id for request in valid} | {track_id}
        keys = {
            row["object_key"]
            for row in self.stores.rows("detections_detection")
            if row["id"] in ids
        }
        return {
            **state,
            "detections": state["detections"] - ids,
            "tracks": {k: v for k, v in state["tracks"].items() if k not in tracks},
            "objects": state["objects"] - keys,
        }

    def denied_then_stored(
        self,
        call: Callable[..., Any],
        hostile: Message,
        valid: Message,
        token: str,
        upload: Callable[[list[Any], str], list[Any]],
    ) -> None:
        """`hostile` names another device: its stream ends with PERMISSION_DENIED before any
        ack and changes nothing, and `valid` is stored on a new stream (with `upload`)."""
        event("PERMISSION_DENIED")
        assert _denied(call, [hostile, valid], token) == grpc.StatusCode.PERMISSION_DENIED
        assert snapshot(self.stores) == self.before
        assert [a.status for a in upload([valid], token)] == [STORED]

    def nothing_new_is_wrong(self) -> None:
        """Assert that the example made nothing ill-formed."""
        assert problems(self.stores, self.before["objects"]) - self._problems == set()


def _metadata(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def _denied(call: Callable[..., Any], requests: list[Any], token: str) -> grpc.StatusCode:
    """Send `requests`; the stream must end with an error before any ack: return its code."""
    acks: list[Any] = []
    with pytest.raises(grpc.RpcError) as raised:
        acks.extend(call(iter(requests), timeout=DEADLINE_S, metadata=_metadata(token)))
    assert acks == []
    code: grpc.StatusCode = raised.value.code()
    return code


def _answered(answer: Any) -> None:
    """A hostile item's ack: one that can end its story, and no missing check behind it."""
    assert answer.status in ANSWERS, answer
    assert answer.message != "refused by the database"


def _valid_crop(device_id: str) -> ingest_pb2.UploadCropsRequest:
    return crop_request(device_id=device_id, detection_id=fresh_id(), track_id=fresh_id())


def crop_example(
    ingest: Ingest,
    token: str,
    device_id: str,
    stores: StoreView,
    request: ingest_pb2.UploadCropsRequest,
) -> None:
    """Upload `request` and a valid crop as `device_id`; check the properties."""
    example = Example(stores)
    valid = _valid_crop(device_id)
    if request.device_id != device_id:
        example.denied_then_stored(ingest.stub.UploadCrops, request, valid, token, ingest.upload)
    else:
        answer, next_answer = ingest.upload([request, valid], token)
        event(ingest_pb2.AckStatus.Name(answer.status))
        assert answer.detection_id == request.detection_id
        _answered(answer)
        assert (next_answer.detection_id, next_answer.status) == (valid.detection_id, STORED)
        after = example.after(valid)
        if answer.status == STORED:
            assert after["detections"] == example.before["detections"] | {request.detection_id}
        else:
            assert after == example.before
    example.nothing_new_is_wrong()


def record_example(
    ingest: Ingest,
    token: str,
    device_id: str,
    stores: StoreView,
    request: ingest_pb2.UploadRecordsRequest,
) -> None:
    """Upload `request` and a valid track summary as `device_id`; check the properties."""
    example = Example(stores)
    valid = track_request(1, fresh_id(), device_id=device_id)
    kind = request.WhichOneof("record")
    record = getattr(request, kind) if kind else None
    if record is not None and record.HasField("key") and record.key.device_id != device_id:
        call, upload = ingest.stub.UploadRecords, ingest.upload_records
        example.denied_then_stored(call, request, valid, token, upload)
    else:
        answer, next_answer = ingest.upload_records([request, valid], token)
        event(f"{kind}: {ingest_pb2.AckStatus.Name(answer.status)}")
        assert answer.seq == (record.key.seq if record is not None else 0)
        _answered(answer)
        assert next_answer.status == STORED
        if answer.status != STORED:
            assert example.after(track_id=valid.track.track_id) == example.before
    example.nothing_new_is_wrong()


def bytes_example(
    ingest: Ingest, token: str, device_id: str, stores: StoreView, method: str, payload: bytes
) -> None:
    """Send `payload` as it is on a `method` stream, then a valid crop on a new stream."""
    example = Example(stores)
    response = getattr(ingest_pb2, f"{method}Response")
    call = ingest.channel.stream_stream(
        f"/sightline.ingest.v1.IngestService/{method}",
        request_serializer=None,
        response_deserializer=response.FromString,
    )
    try:
        answers = list(call(iter([payload]), timeout=DEADLINE_S, metadata=_metadata(token)))
    except grpc.RpcError as err:
        code = err.code()  # type: ignore[attr-defined]  # a grpc.Call too
        event(f"{method}: {code.name}")
        assert code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT)
        if code is grpc.StatusCode.INVALID_ARGUMENT:
            assert "does not decode" in err.details()  # type: ignore[attr-defined]
        assert snapshot(stores) == example.before
    else:
        (answer,) = answers
        event(f"{method}: {ingest_pb2.AckStatus.Name(answer.status)}")
        _answered(answer)
        if answer.status != STORED:
            assert snapshot(stores) == example.before
    valid = _valid_crop(device_id)
    assert [a.status for a in ingest.upload([valid], token)] == [STORED]
    example.nothing_new_is_wrong()
