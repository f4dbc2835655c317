"""Read a ``.safetensors`` file into numpy arrays.

Public surface: :func:`load_safetensors`.

The format is an 8-byte little-endian header length, a JSON header mapping each tensor name to
its dtype, shape and byte range, then the raw little-endian data. It holds no code, so reading it
needs no restrictions beyond checking that the byte ranges are sane. Doing it with numpy keeps
the export extra free of another dependency for some 40 lines.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt

# Upstream dtype names; BF16 has no numpy dtype and is rejected.
_DTYPES: dict[str, str] = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}
# The reference implementation refuses headers above 100 MB.
_MAX_HEADER = 100_000_000


def load_safetensors(path: Path) -> dict[str, npt.NDArray[np.generic]]:
    """Load every tensor of ``path`` as a C-contiguous array in native byte order.

    Raises ``ValueError`` for a malformed file or a dtype numpy cannot hold (BF16).
    """
    data = path.read_bytes()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(_MAX_HEADER, len(data) - 8):
        raise ValueError(f"{path}: bad header length {header_len}")
    header = json.loads(data[8 : 8 + header_len])
    body = memoryview(data)[8 + header_len :]
    arrays: dict[str, npt.NDArray[np.generic]] = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        if spec["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {spec['dtype']}")
        dtype = np.dtype(_DTYPES[spec["dtype"]])
        shape = tuple(int(n) for n in spec["shape"])
        begin, end = (int(n) for n in spec["data_offsets"])
        if not 0 <= begin <= end <= len(body) or end - begin != dtype.itemsize * int(
            np.prod(shape, dtype=np.int64)
        ):
            raise ValueError(f"{path}: tensor {name} has a bad byte range")
        flat = np.frombuffer(body[begin:end], dtype=dtype)
        arrays[name] = flat.reshape(shape).astype(dtype.newbyteorder("="), copy=True)
    return arrays
