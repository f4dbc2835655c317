import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from sightline.common.v1 import model_pb2 as _model_pb2
from sightline.device.v1 import key_pb2 as _key_pb2
from sightline.device.v1 import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DesiredCameraModel(_message.Message):
    __slots__ = ("camera_id", "model", "sha256", "url", "url_expire_time", "size", "manifest", "signature", "key_id")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    URL_EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    model: _model_pb2.ModelRef
    sha256: str
    url: str
    url_expire_time: _timestamp_pb2.Timestamp
    size: int
    manifest: bytes
    signature: bytes
    key_id: str
    def __init__(self, camera_id: _Optional[str] = ..., model: _Optional[_Union[_model_pb2.ModelRef, _Mapping]] = ..., sha256: _Optional[str] = ..., url: _Optional[str] = ..., url_expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., size: _Optional[int] = ..., manifest: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., key_id: _Optional[str] = ...) -> None: ...

class DesiredState(_message.Message):
    __slots__ = ("generation", "time", "config_version", "cameras", "agent_image")
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    AGENT_IMAGE_FIELD_NUMBER: _ClassVar[int]
    generation: int
    time: _timestamp_pb2.Timestamp
    config_version: str
    cameras: _containers.RepeatedCompositeFieldContainer[DesiredCameraModel]
    agent_image: str
    def __init__(self, generation: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., config_version: _Optional[str] = ..., cameras: _Optional[_Iterable[_Union[DesiredCameraModel, _Mapping]]] = ..., agent_image: _Optional[str] = ...) -> None: ...

class ReportedState(_message.Message):
    __slots__ = ("key", "time", "generation", "config_version", "cameras", "error", "agent_image")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    AGENT_IMAGE_FIELD_NUMBER: _ClassVar[int]
    key: _key_pb2.MessageKey
    time: _timestamp_pb2.Timestamp
    generation: int
    config_version: str
    cameras: _containers.RepeatedCompositeFieldContainer[_status_pb2.CameraModel]
    error: str
    agent_image: str
    def __init__(self, key: _Optional[_Union[_key_pb2.MessageKey, _Mapping]] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., generation: _Optional[int] = ..., config_version: _Optional[str] = ..., cameras: _Optional[_Iterable[_Union[_status_pb2.CameraModel, _Mapping]]] = ..., error: _Optional[str] = ..., agent_image: _Optional[str] = ...) -> None: ...
