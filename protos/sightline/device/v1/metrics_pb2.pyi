import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from sightline.common.v1 import model_pb2 as _model_pb2
from sightline.device.v1 import key_pb2 as _key_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CameraMetrics(_message.Message):
    __slots__ = ("camera_id", "connected", "decode_fps", "infer_fps", "frames_dropped_total", "detections_total", "model", "model_sha256", "detector_latency_p50_ms", "detector_latency_p95_ms", "detections", "target_fps", "frames_gated_total")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    DECODE_FPS_FIELD_NUMBER: _ClassVar[int]
    INFER_FPS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_DROPPED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    DETECTIONS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_SHA256_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_LATENCY_P50_MS_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_LATENCY_P95_MS_FIELD_NUMBER: _ClassVar[int]
    DETECTIONS_FIELD_NUMBER: _ClassVar[int]
    TARGET_FPS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_GATED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    connected: bool
    decode_fps: float
    infer_fps: float
    frames_dropped_total: int
    detections_total: int
    model: _model_pb2.ModelRef
    model_sha256: str
    detector_latency_p50_ms: float
    detector_latency_p95_ms: float
    detections: int
    target_fps: float
    frames_gated_total: int
    def __init__(self, camera_id: _Optional[str] = ..., connected: bool = ..., decode_fps: _Optional[float] = ..., infer_fps: _Optional[float] = ..., frames_dropped_total: _Optional[int] = ..., detections_total: _Optional[int] = ..., model: _Optional[_Union[_model_pb2.ModelRef, _Mapping]] = ..., model_sha256: _Optional[str] = ..., detector_latency_p50_ms: _Optional[float] = ..., detector_latency_p95_ms: _Optional[float] = ..., detections: _Optional[int] = ..., target_fps: _Optional[float] = ..., frames_gated_total: _Optional[int] = ...) -> None: ...

class LaneMetrics(_message.Message):
    __slots__ = ("kind", "rows", "bytes", "dropped_total", "dead_letters_total", "delivered_total", "error")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    DROPPED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    kind: str
    rows: int
    bytes: int
    dropped_total: int
    dead_letters_total: int
    delivered_total: int
    error: str
    def __init__(self, kind: _Optional[str] = ..., rows: _Optional[int] = ..., bytes: _Optional[int] = ..., dropped_total: _Optional[int] = ..., dead_letters_total: _Optional[int] = ..., delivered_total: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class Metrics(_message.Message):
    __slots__ = ("key", "time", "session_seq", "cameras", "outbox_rows", "outbox_bytes", "outbox_dropped_total", "cpu_percent", "memory_used_bytes", "memory_available_bytes", "disk_free_bytes", "lanes", "tracks_interrupted_total", "interval_s", "errors_total", "last_error", "temperature_celsius")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    SESSION_SEQ_FIELD_NUMBER: _ClassVar[int]
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    OUTBOX_ROWS_FIELD_NUMBER: _ClassVar[int]
    OUTBOX_BYTES_FIELD_NUMBER: _ClassVar[int]
    OUTBOX_DROPPED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_AVAILABLE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    LANES_FIELD_NUMBER: _ClassVar[int]
    TRACKS_INTERRUPTED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    ERRORS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_CELSIUS_FIELD_NUMBER: _ClassVar[int]
    key: _key_pb2.MessageKey
    time: _timestamp_pb2.Timestamp
    session_seq: int
    cameras: _containers.RepeatedCompositeFieldContainer[CameraMetrics]
    outbox_rows: int
    outbox_bytes: int
    outbox_dropped_total: int
    cpu_percent: float
    memory_used_bytes: int
    memory_available_bytes: int
    disk_free_bytes: int
    lanes: _containers.RepeatedCompositeFieldContainer[LaneMetrics]
    tracks_interrupted_total: int
    interval_s: float
    errors_total: int
    last_error: str
    temperature_celsius: float
    def __init__(self, key: _Optional[_Union[_key_pb2.MessageKey, _Mapping]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., session_seq: _Optional[int] = ..., cameras: _Optional[_Iterable[_Union[CameraMetrics, _Mapping]]] = ..., outbox_rows: _Optional[int] = ..., outbox_bytes: _Optional[int] = ..., outbox_dropped_total: _Optional[int] = ..., cpu_percent: _Optional[float] = ..., memory_used_bytes: _Optional[int] = ..., memory_available_bytes: _Optional[int] = ..., disk_free_bytes: _Optional[int] = ..., lanes: _Optional[_Iterable[_Union[LaneMetrics, _Mapping]]] = ..., tracks_interrupted_total: _Optional[int] = ..., interval_s: _Optional[float] = ..., errors_total: _Optional[int] = ..., last_error: _Optional[str] = ..., temperature_celsius: _Optional[float] = ...) -> None: ...
