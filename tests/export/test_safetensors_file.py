"""The numpy safetensors reader, on files written byte by byte as the format describes."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from export.safetensors_file import load_safetensors


def _write(path: Path, header: dict[str, Any], body: bytes) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + body)


def test_it_reads_every_tensor_with_its_dtype_and_shape(tmp_path: Path) -> None:
    weight = np.arange(6, dtype="<f4").reshape(2, 3) / 7
    ids = np.array([[1, -2]], dtype="<i8")
    half = np.array([0.5, 65504.0], dtype="<f2")
    body = weight.tobytes() + ids.tobytes() + half.tobytes()
    header = {
        "__metadata__": {"format": "pt"},
        "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "ids": {"dtype": "I64", "shape": [1, 2], "data_offsets": [24, 40]},
        "half": {"dtype": "F16", "shape": [2], "data_offsets": [40, 44]},
    }
    path = tmp_path / "model.safetensors"
    _write(path, header, body)

    arrays = load_safetensors(path)

    assert sorted(arrays) == ["half", "ids", "w"]
    np.testing.assert_array_equal(arrays["w"], weight)
    np.testing.assert_array_equal(arrays["ids"], ids)
    np.testing.assert_array_equal(arrays["half"], half)
    assert arrays["w"].dtype == np.float32 and arrays["w"].flags.writeable


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}, "bad byte range"),
        ({"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, "bad byte range"),
        ({"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}, "unsupported dtype"),
    ],
)
def test_it_rejects_tensors_it_cannot_read_faithfully(
    tmp_path: Path, spec: dict[str, Any], message: str
) -> None:
    path = tmp_path / "model.safetensors"
    _write(path, {"t": spec}, bytes(12))

    with pytest.raises(ValueError, match=message):
        load_safetensors(path)


def test_it_rejects_a_header_longer_than_the_file(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", 1_000) + b"{}")

    with pytest.raises(ValueError, match="bad header length"):
        load_safetensors(path)
