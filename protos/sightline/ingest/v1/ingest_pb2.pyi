import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from sightline.common.v1 import model_pb2 as _model_pb2
from sightline.device.v1 import event_pb2 as _event_pb2
from sightline.device.v1 import track_pb2 as _track_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AckStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACK_STATUS_UNSPECIFIED: _ClassVar[AckStatus]
    ACK_STATUS_STORED: _ClassVar[AckStatus]
    ACK_STATUS_DUPLICATE: _ClassVar[AckStatus]
    ACK_STATUS_REJECTED_INVALID: _ClassVar[AckStatus]
    ACK_STATUS_RETRY_LATER: _ClassVar[AckStatus]
ACK_STATUS_UNSPECIFIED: AckStatus
ACK_STATUS_STORED: AckStatus
ACK_STATUS_DUPLICATE: AckStatus
ACK_STATUS_REJECTED_INVALID: AckStatus
ACK_STATUS_RETRY_LATER: AckStatus

class BoundingBox(_message.Message):
    __slots__ = ("x_min", "y_min", "x_max", "y_max")
    X_MIN_FIELD_NUMBER: _ClassVar[int]
    Y_MIN_FIELD_NUMBER: _ClassVar[int]
    X_MAX_FIELD_NUMBER: _ClassVar[int]
    Y_MAX_FIELD_NUMBER: _ClassVar[int]
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    def __init__(self, x_min: _Optional[float] = ..., y_min: _Optional[float] = ..., x_max: _Optional[float] = ..., y_max: _Optional[float] = ...) -> None: ...

class FrameSize(_message.Message):
    __slots__ = ("width", "height")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class UploadCropsRequest(_message.Message):
    __slots__ = ("detection_id", "device_id", "camera_id", "track_id", "frame_time", "box", "label", "score", "frame_size", "crop_box", "jpeg", "model", "context_jpeg", "face")
    DETECTION_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    TRACK_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_TIME_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    FRAME_SIZE_FIELD_NUMBER: _ClassVar[int]
    CROP_BOX_FIELD_NUMBER: _ClassVar[int]
    JPEG_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_JPEG_FIELD_NUMBER: _ClassVar[int]
    FACE_FIELD_NUMBER: _ClassVar[int]
    detection_id: str
    device_id: str
    camera_id: str
    track_id: str
    frame_time: _timestamp_pb2.Timestamp
    box: BoundingBox
    label: str
    score: float
    frame_size: FrameSize
    crop_box: BoundingBox
    jpeg: bytes
    model: _model_pb2.ModelRef
    context_jpeg: bytes
    face: EdgeFace
    def __init__(self, detection_id: _Optional[str] = ..., device_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., track_id: _Optional[str] = ..., frame_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., box: _Optional[_Union[BoundingBox, _Mapping]] = ..., label: _Optional[str] = ..., score: _Optional[float] = ..., frame_size: _Optional[_Union[FrameSize, _Mapping]] = ..., crop_box: _Optional[_Union[BoundingBox, _Mapping]] = ..., jpeg: _Optional[bytes] = ..., model: _Optional[_Union[_model_pb2.ModelRef, _Mapping]] = ..., context_jpeg: _Optional[bytes] = ..., face: _Optional[_Union[EdgeFace, _Mapping]] = ...) -> None: ...

class EdgeFace(_message.Message):
    __slots__ = ("box", "landmarks", "score", "image_box", "jpeg")
    BOX_FIELD_NUMBER: _ClassVar[int]
    LANDMARKS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_BOX_FIELD_NUMBER: _ClassVar[int]
    JPEG_FIELD_NUMBER: _ClassVar[int]
    box: BoundingBox
    landmarks: _containers.RepeatedScalarFieldContainer[float]
    score: float
    image_box: BoundingBox
    jpeg: bytes
    def __init__(self, box: _Optional[_Union[BoundingBox, _Mapping]] = ..., landmarks: _Optional[_Iterable[float]] = ..., score: _Optional[float] = ..., image_box: _Optional[_Union[BoundingBox, _Mapping]] = ..., jpeg: _Optional[bytes] = ...) -> None: ...

class UploadRecordsRequest(_message.Message):
    __slots__ = ("event", "track")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    TRACK_FIELD_NUMBER: _ClassVar[int]
    event: _event_pb2.Event
    track: _track_pb2.TrackSummary
    def __init__(self, event: _Optional[_Union[_event_pb2.Event, _Mapping]] = ..., track: _Optional[_Union[_track_pb2.TrackSummary, _Mapping]] = ...) -> None: ...

class UploadRecordsResponse(_message.Message):
    __slots__ = ("seq", "status", "message")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    seq: int
    status: AckStatus
    message: str
    def __init__(self, seq: _Optional[int] = ..., status: _Optional[_Union[AckStatus, str]] = ..., message: _Optional[str] = ...) -> None: ...

class UploadCropsResponse(_message.Message):
    __slots__ = ("detection_id", "status", "message")
    DETECTION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    detection_id: str
    status: AckStatus
    message: str
    def __init__(self, detection_id: _Optional[str] = ..., status: _Optional[_Union[AckStatus, str]] = ..., message: _Optional[str] = ...) -> None: ...
