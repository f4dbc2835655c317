"""Hypothesis strategies for what a hostile or broken device sends the cloud's ingest.

Each structured strategy starts from a message the edge would send and overwrites a few of its
fields with hostile values: NUL and huge strings, ids of the wrong shape, extreme integers,
NaN and infinities, times far outside the range the stores hold, boxes outside [0, 1] or
upside down, JPEG bytes that are not JPEG or are cut short, oversized maps and repeated
fields, empty oneofs. The unchanged fields stay valid, so a mutation reaches the checks
behind the first one. `payloads` adds arbitrary bytes, which mostly fail to decode and
sometimes decode into something odd.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Final, TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import strategies as st

from sightline.common.v1 import model_pb2
from sightline.device.v1 import event_pb2, key_pb2, metrics_pb2, state_pb2, status_pb2, track_pb2
from sightline.ingest.v1 import ingest_pb2
from tests.cloud.ingest.footage import OBJECTS, crop_jpeg
from tests.cloud.ingest.uploads import crop_request, event_request, track_request
from tests.cloud.lib.jpeg_samples import declaring

M = TypeVar("M", bound=Message)
Mutation = Callable[[st.DrawFn, M], None]

UINT64_MAX: Final = 2**64 - 1
INT64_MAX: Final = 2**63 - 1

# Protobuf strings must be valid UTF-8, so no lone surrogates; everything else goes.
_ANY_CHARACTER = st.characters(exclude_categories=("Cs",))

texts = st.one_of(
    st.text(_ANY_CHARACTER, max_size=80),
    st.sampled_from(
        [
            "",
            "\x00",
            "per\x00son",
            ".",
            "..",
            "../etc",
            "a/b",
            "+",
            "#",
            "$SYS",
            " lobby",
            "lobby\n",
            "\u202egate",
            "é" * 64,
            "x" * 65,
            "\U0001f600" * 70,
        ]
    ),
    st.sampled_from([4097, 65_536, 300_000]).map(lambda n: "x" * n),
)
"""Any text a protobuf string can hold, weighted towards what breaks names and columns."""

ids = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.uuids().map(lambda u: u.hex),
    st.uuids().map(lambda u: f"{{{u}}}"),
    st.uuids().map(lambda u: f"{u}\n"),
    st.uuids().map(lambda u: f"{u}\x00"),
    st.just("01JD8X3V9N6Q2R4T5W7Y8Z0A1B"),
    texts,
)
"""Canonical UUIDs and every near miss: upper case, no dashes, braces, a trailing newline or
NUL, a ULID, or any text."""

uint64s = st.one_of(
    st.sampled_from([0, 1, INT64_MAX - 1, INT64_MAX, INT64_MAX + 1, UINT64_MAX]),
    st.integers(0, UINT64_MAX),
)
uint32s = st.one_of(st.sampled_from([0, 1, 2**31, 2**32 - 1]), st.integers(0, 2**32 - 1))
float32s = st.one_of(
    st.sampled_from(
        [0.0, -0.0, 1.0, -1e-45, 1.0000001, float("nan"), float("inf"), float("-inf"), 3.4e38]
    ),
    st.floats(width=32, allow_nan=True, allow_infinity=True),
)

_PROTOBUF_SECONDS: Final = (-62_135_596_800, 253_402_300_799)
"""The seconds a valid Timestamp may hold (years 1 to 9999)."""

timestamps = st.builds(
    Timestamp,
    seconds=st.one_of(
        st.sampled_from([*_PROTOBUF_SECONDS, -1, 0, 7_258_118_400, 2**40, -(2**62), 2**63 - 1]),
        st.integers(-(2**63), 2**63 - 1),
        st.integers(1_700_000_000, 1_900_000_000),
    ),
    nanos=st.one_of(st.sampled_from([0, -1, 999_999_999, 10**9]), st.integers(-(2**31), 2**31 - 1)),
)
"""Timestamps in and far out of range, nanos included."""

boxes = st.builds(
    ingest_pb2.BoundingBox, x_min=float32s, y_min=float32s, x_max=float32s, y_max=float32s
)
"""Boxes anywhere, NaN included; a quarter of them inverted or outside [0, 1] at least."""

model_refs = st.builds(model_pb2.ModelRef, name=texts, version=texts)


@functools.cache
def _real_jpeg() -> bytes:
    return crop_jpeg(OBJECTS[0])


not_jpegs = st.one_of(
    st.binary(max_size=256),
    st.sampled_from([b"", b"\xff\xd8", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n" + bytes(64)]),
)
"""Bytes that are no JPEG, or end before its frame header."""
cut_jpegs = st.integers(3, 2**16).map(lambda cut: _real_jpeg()[: cut % len(_real_jpeg())])
"""A real crop cut short anywhere."""
padded_jpegs = st.binary(min_size=1, max_size=8).map(lambda tail: _real_jpeg() + tail)
"""A real crop with bytes after its end."""
giant_jpegs = st.sampled_from([(60_000, 60_000), (4097, 4096), (65_535, 1)]).map(
    lambda size: declaring(*size)
)
"""A JPEG whose header declares more pixels than the embedder decodes."""


def _set(name: str, values: st.SearchStrategy[object]) -> Mutation[Message]:
    def mutate(draw: st.DrawFn, message: Message) -> None:
        value = draw(values)
        if isinstance(value, Message):
            getattr(message, name).CopyFrom(value)
        else:
            setattr(message, name, value)

    return mutate


def _clear(name: str) -> Mutation[Message]:
    def mutate(_draw: st.DrawFn, message: Message) -> None:
        message.ClearField(name)

    return mutate


def _key(device_id: str) -> Mutation[Message]:
    """The message's key: its seq anything, its device mostly the sender's own."""

    def mutate(draw: st.DrawFn, message: Message) -> None:
        key = message.key
        key.seq = draw(uint64s)
        key.device_id = draw(st.one_of(st.just(device_id), st.just(device_id.upper()), ids))

    return mutate


def _key_and_time(device_id: str) -> dict[str, Mutation[Message]]:
    """The mutations of what every device message carries: its key and its time."""
    return {
        "key": _key(device_id),
        "no key": _clear("key"),
        "time": _set("time", timestamps),
        "no time": _clear("time"),
    }


def _mutated(
    base: Callable[[st.DrawFn], M], mutations: dict[str, Mutation[M]]
) -> st.SearchStrategy[M]:
    @st.composite
    def strategy(draw: st.DrawFn) -> M:
        message = base(draw)
        for name in draw(st.lists(st.sampled_from(sorted(mutations)), max_size=4, unique=True)):
            mutations[name](draw, message)
        return message

    return strategy()


def crop_requests(device_id: str) -> st.SearchStrategy[ingest_pb2.UploadCropsRequest]:
    """Crops of `device_id` as its edge makes them, with a few hostile fields."""

    def base(draw: st.DrawFn) -> ingest_pb2.UploadCropsRequest:
        return crop_request(
            draw(st.sampled_from(OBJECTS)),
            device_id=device_id,
            detection_id=str(draw(st.uuids())),
            track_id=str(draw(st.uuids())),
        )

    def frame_size(draw: st.DrawFn, request: ingest_pb2.UploadCropsRequest) -> None:
        request.frame_size.width = draw(uint32s)
        request.frame_size.height = draw(uint32s)

    mutations: dict[str, Mutation[ingest_pb2.UploadCropsRequest]] = {
        "detection_id": _set("detection_id", ids),
        "device_id": _set("device_id", st.one_of(ids, st.just(device_id.upper()))),
        "camera_id": _set("camera_id", texts),
        "track_id": _set("track_id", ids),
        "frame_time": _set("frame_time", timestamps),
        "box": _set("box", boxes),
        "crop_box": _set("crop_box", boxes),
        "frame_size": frame_size,
        "label": _set("label", texts),
        "score": _set("score", float32s),
        "model": _set("model", model_refs),
        "jpeg: not one": _set("jpeg", not_jpegs),
        "jpeg: cut short": _set("jpeg", cut_jpegs),
        "jpeg: bytes after its end": _set("jpeg", padded_jpegs),
        "jpeg: giant": _set("jpeg", giant_jpegs),
        **{f"no {name}": _clear(name) for name in ("frame_time", "box", "crop_box", "model")},
        "no frame_size": _clear("frame_size"),
    }
    return _mutated(base, mutations)


def _attributes() -> st.SearchStrategy[dict[str, str]]:
    return st.one_of(
        st.dictionaries(texts, texts, max_size=6),
        st.integers(30, 200).map(lambda n: {f"k{i}": "v" for i in range(n)}),
        st.integers(1, 64).map(lambda n: {f"k{i}": "v" * 1024 for i in range(n)}),
    )


def record_requests(device_id: str) -> st.SearchStrategy[ingest_pb2.UploadRecordsRequest]:
    """Events and track summaries of `device_id`, with a few hostile fields, or no record."""

    def event_base(draw: st.DrawFn) -> event_pb2.Event:
        return event_request(draw(st.integers(1, INT64_MAX)), device_id=device_id).event

    def track_base(draw: st.DrawFn) -> track_pb2.TrackSummary:
        return track_request(
            draw(st.integers(1, INT64_MAX)),
            str(draw(st.uuids())),
            device_id=device_id,
            seen_s=draw(st.floats(0, 3600)),
        ).track

    def attributes(draw: st.DrawFn, event: event_pb2.Event) -> None:
        event.attributes.clear()
        event.attributes.update(draw(_attributes()))

    events = _mutated(
        event_base,
        {
            **_key_and_time(device_id),
            "name": _set("name", texts),
            "severity": _set("severity", st.integers(-(2**31), 2**31 - 1)),
            "camera_id": _set("camera_id", texts),
            "message": _set("message", texts),
            "attributes": attributes,
        },
    )
    tracks = _mutated(
        track_base,
        {
            "key": _key(device_id),
            "no key": _clear("key"),
            "track_id": _set("track_id", ids),
            "camera_id": _set("camera_id", texts),
            "label": _set("label", texts),
            "first_seen": _set("first_seen", timestamps),
            "last_seen": _set("last_seen", timestamps),
            "no first_seen": _clear("first_seen"),
            "no last_seen": _clear("last_seen"),
            "best_detection_id": _set("best_detection_id", ids),
            "best_score": _set("best_score", float32s),
            "box_count": _set("box_count", uint32s),
        },
    )
    return st.one_of(
        events.map(lambda event: ingest_pb2.UploadRecordsRequest(event=event)),
        tracks.map(lambda track: ingest_pb2.UploadRecordsRequest(track=track)),
        st.just(ingest_pb2.UploadRecordsRequest()),
    )


def _device_key(device_id: str) -> Callable[[st.DrawFn], key_pb2.MessageKey]:
    def key(draw: st.DrawFn) -> key_pb2.MessageKey:
        return key_pb2.MessageKey(device_id=device_id, seq=draw(st.integers(1, INT64_MAX)))

    return key


def status_messages(device_id: str) -> st.SearchStrategy[status_pb2.DeviceStatus]:
    """Births and last wills of `device_id`, with a few hostile fields."""

    def base(draw: st.DrawFn) -> status_pb2.DeviceStatus:
        message = status_pb2.DeviceStatus(
            key=_device_key(device_id)(draw),
            state=draw(
                st.sampled_from([status_pb2.DEVICE_STATE_ONLINE, status_pb2.DEVICE_STATE_OFFLINE])
            ),
            session_seq=draw(st.integers(1, 2**40)),
            agent_version="0.3.1",
            hardware_profile="x86-cpu",
        )
        message.time.FromSeconds(draw(st.integers(1_700_000_000, 1_900_000_000)))
        return message

    def models(draw: st.DrawFn, message: status_pb2.DeviceStatus) -> None:
        for _ in range(draw(st.integers(0, 300))):
            message.models.add(camera_id=draw(texts), model=draw(model_refs))

    return _mutated(
        base,
        {
            **_key_and_time(device_id),
            "state": _set("state", st.integers(-(2**31), 2**31 - 1)),
            "session_seq": _set("session_seq", uint64s),
            "agent_version": _set("agent_version", texts),
            "hardware_profile": _set("hardware_profile", texts),
            "models": models,
        },
    )


def metrics_messages(device_id: str) -> st.SearchStrategy[metrics_pb2.Metrics]:
    """Heartbeats of `device_id`, with a few hostile fields and lanes."""
    lanes = st.builds(
        metrics_pb2.LaneMetrics,
        kind=st.one_of(st.sampled_from(["crop", "record"]), texts),
        rows=uint64s,
        bytes=uint64s,
        dropped_total=uint64s,
        dead_letters_total=uint64s,
        delivered_total=uint64s,
        error=texts,
    )

    def base(draw: st.DrawFn) -> metrics_pb2.Metrics:
        message = metrics_pb2.Metrics(
            key=_device_key(device_id)(draw),
            session_seq=draw(st.integers(1, 2**40)),
            outbox_rows=draw(st.integers(0, 10**6)),
            lanes=[metrics_pb2.LaneMetrics(kind="crop", rows=3, delivered_total=10)],
        )
        message.time.FromSeconds(draw(st.integers(1_700_000_000, 1_900_000_000)))
        return message

    def lane_list(draw: st.DrawFn, message: metrics_pb2.Metrics) -> None:
        del message.lanes[:]
        message.lanes.extend(
            draw(
                st.one_of(
                    st.lists(lanes, max_size=10),
                    st.integers(9, 500).map(
                        lambda n: [metrics_pb2.LaneMetrics(kind=f"lane{i}") for i in range(n)]
                    ),
                )
            )
        )

    def cameras(draw: st.DrawFn, message: metrics_pb2.Metrics) -> None:
        for _ in range(draw(st.integers(0, 300))):
            message.cameras.add(camera_id=draw(texts), decode_fps=draw(float32s))

    counters = (
        "session_seq",
        "outbox_rows",
        "outbox_bytes",
        "outbox_dropped_total",
        "memory_used_bytes",
        "memory_available_bytes",
        "disk_free_bytes",
        "tracks_interrupted_total",
    )
    return _mutated(
        base,
        {
            **_key_and_time(device_id),
            "cpu_percent": _set("cpu_percent", float32s),
            "lanes": lane_list,
            "cameras": cameras,
            **{name: _set(name, uint64s) for name in counters},
        },
    )


def reported_messages(device_id: str) -> st.SearchStrategy[state_pb2.ReportedState]:
    """Reported states of `device_id`, with a few hostile fields."""

    def base(draw: st.DrawFn) -> state_pb2.ReportedState:
        message = state_pb2.ReportedState(
            key=_device_key(device_id)(draw), generation=draw(uint64s), config_version="7"
        )
        message.time.FromSeconds(draw(st.integers(1_700_000_000, 1_900_000_000)))
        return message

    return _mutated(
        base,
        {
            **_key_and_time(device_id),
            "config_version": _set("config_version", texts),
            "error": _set("error", texts),
        },
    )


def payloads(messages: st.SearchStrategy[M]) -> st.SearchStrategy[bytes]:
    """Serialized `messages`, arbitrary bytes, and either with bytes cut off or appended."""
    serialized = messages.map(lambda message: message.SerializeToString())
    # Half are messages as serialized, so that most examples get past the decoding.
    return st.one_of(
        serialized,
        st.one_of(
            st.binary(max_size=512),
            st.tuples(serialized, st.integers(1, 64)).map(lambda cut: cut[0][: -cut[1]]),
            st.tuples(serialized, st.binary(min_size=1, max_size=32)).map(lambda t: t[0] + t[1]),
        ),
    )


def raw_requests(device_id: str) -> st.SearchStrategy[tuple[str, bytes]]:
    """(method, request bytes) for either upload method: its requests as `payloads` makes them."""
    return st.one_of(
        st.tuples(st.just("UploadCrops"), payloads(crop_requests(device_id))),
        st.tuples(st.just("UploadRecords"), payloads(record_requests(device_id))),
    )


def fresh_id() -> str:
    """A new canonical UUID, for the valid items that follow a hostile one."""
    return str(uuid.uuid4())
