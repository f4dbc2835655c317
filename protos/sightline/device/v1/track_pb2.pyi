import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from sightline.device.v1 import key_pb2 as _key_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TrackSummary(_message.Message):
    __slots__ = ("key", "track_id", "camera_id", "label", "first_seen", "last_seen", "best_detection_id", "best_score", "box_count", "ended", "path")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    BEST_DETECTION_ID_FIELD_NUMBER: _ClassVar[int]
    BEST_SCORE_FIELD_NUMBER: _ClassVar[int]
    BOX_COUNT_FIELD_NUMBER: _ClassVar[int]
    ENDED_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    key: _key_pb2.MessageKey
    track_id: str
    camera_id: str
    label: str
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    best_detection_id: str
    best_score: float
    box_count: int
    ended: bool
    path: _containers.RepeatedCompositeFieldContainer[PathPoint]
    def __init__(self, key: _Optional[_Union[_key_pb2.MessageKey, _Mapping]] = ..., track_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., label: _Optional[str] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., best_detection_id: _Optional[str] = ..., best_score: _Optional[float] = ..., box_count: _Optional[int] = ..., ended: bool = ..., path: _Optional[_Iterable[_Union[PathPoint, _Mapping]]] = ...) -> None: ...

class PathPoint(_message.Message):
    __slots__ = ("time", "x", "y")
    TIME_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    x: float
    y: float
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., x: _Optional[float] = ..., y: _Optional[float] = ...) -> None: ...
