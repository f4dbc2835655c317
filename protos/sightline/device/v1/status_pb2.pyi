import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from sightline.common.v1 import model_pb2 as _model_pb2
from sightline.device.v1 import key_pb2 as _key_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeviceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEVICE_STATE_UNSPECIFIED: _ClassVar[DeviceState]
    DEVICE_STATE_ONLINE: _ClassVar[DeviceState]
    DEVICE_STATE_OFFLINE: _ClassVar[DeviceState]
DEVICE_STATE_UNSPECIFIED: DeviceState
DEVICE_STATE_ONLINE: DeviceState
DEVICE_STATE_OFFLINE: DeviceState

class CameraModel(_message.Message):
    __slots__ = ("camera_id", "model", "sha256")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    model: _model_pb2.ModelRef
    sha256: str
    def __init__(self, camera_id: _Optional[str] = ..., model: _Optional[_Union[_model_pb2.ModelRef, _Mapping]] = ..., sha256: _Optional[str] = ...) -> None: ...

class DeviceStatus(_message.Message):
    __slots__ = ("key", "state", "session_seq", "time", "agent_version", "hardware_profile", "models")
    KEY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SESSION_SEQ_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    HARDWARE_PROFILE_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    key: _key_pb2.MessageKey
    state: DeviceState
    session_seq: int
    time: _timestamp_pb2.Timestamp
    agent_version: str
    hardware_profile: str
    models: _containers.RepeatedCompositeFieldContainer[CameraModel]
    def __init__(self, key: _Optional[_Union[_key_pb2.MessageKey, _Mapping]] = ..., state: _Optional[_Union[DeviceState, str]] = ..., session_seq: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., agent_version: _Optional[str] = ..., hardware_profile: _Optional[str] = ..., models: _Optional[_Iterable[_Union[CameraModel, _Mapping]]] = ...) -> None: ...
