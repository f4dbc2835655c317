"""The torch-free state_dict reader: both file layouts, strided views, and refusing code.

The files here are written the way ``torch.save`` writes them (same pickle globals, persistent ids
and storage layout), by a small writer that registers stand-in ``torch`` modules so that pickle
emits the same ``GLOBAL torch._utils _rebuild_tensor_v2`` opcodes. (The reader was also checked
once, outside this repository, against real ``torch.save`` output of torch 2.15 in both layouts:
identical arrays.)
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import sys
import types
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from export.torch_state_dict import UnsafePickleError, load_state_dict

_STORAGE_NAMES = {
    np.dtype("float32"): "FloatStorage",
    np.dtype("float16"): "HalfStorage",
    np.dtype("int64"): "LongStorage",
    np.dtype("bool"): "BoolStorage",
}


@dataclass
class _Storage:
    key: str
    data: np.ndarray  # 1-d, the whole storage


@dataclass
class _Tensor:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


@pytest.fixture
def fake_torch(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.SimpleNamespace]:
    """Stand-in torch globals, importable by name so pickle writes what torch.save writes."""
    torch_mod = types.ModuleType("torch")
    utils_mod = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args: object) -> None:
        raise AssertionError("only used for pickling")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils_mod._rebuild_tensor_v2 = _rebuild_tensor_v2  # type: ignore[attr-defined]
    storage_types = {}
    for name in _STORAGE_NAMES.values():
        cls = type(name, (), {"__module__": "torch"})
        setattr(torch_mod, name, cls)
        storage_types[name] = cls
    monkeypatch.setitem(sys.modules, "torch", torch_mod)
    monkeypatch.setitem(sys.modules, "torch._utils", utils_mod)
    yield types.SimpleNamespace(rebuild=_rebuild_tensor_v2, storage_types=storage_types)


def _pickle_state_dict(
    fake: types.SimpleNamespace, tensors: Mapping[str, _Tensor], *, legacy: bool
) -> bytes:
    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: Any) -> Any:
            if not isinstance(obj, _Storage):
                return None
            storage_type = fake.storage_types[_STORAGE_NAMES[obj.data.dtype]]
            pid = ("storage", storage_type, obj.key, "cpu", obj.data.size)
            return (*pid, None) if legacy else pid

        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, _Tensor):
                hooks = collections.OrderedDict()  # type: ignore[var-annotated]
                args = (obj.storage, obj.offset, obj.size, obj.stride, False, hooks)
                return fake.rebuild, args
            return NotImplemented

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(collections.OrderedDict(tensors))
    return buffer.getvalue()


def _storages(tensors: Mapping[str, _Tensor]) -> dict[str, _Storage]:
    return {t.storage.key: t.storage for t in tensors.values()}


def _write_zip(fake: types.SimpleNamespace, tensors: Mapping[str, _Tensor], path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", _pickle_state_dict(fake, tensors, legacy=False))
        archive.writestr("archive/byteorder", "little")
        for key, storage in _storages(tensors).items():
            archive.writestr(f"archive/data/{key}", storage.data.tobytes())


def _write_legacy(fake: types.SimpleNamespace, tensors: Mapping[str, _Tensor], path: Path) -> None:
    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4}}
    storages = _storages(tensors)
    with path.open("wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, sys_info):
            pickle.dump(header, f, protocol=2)
        f.write(_pickle_state_dict(fake, tensors, legacy=True))
        pickle.dump(list(storages), f, protocol=2)
        for storage in storages.values():
            f.write(struct.pack("<q", storage.data.size) + storage.data.tobytes())


def _example_tensors() -> tuple[dict[str, _Tensor], dict[str, np.ndarray]]:
    """Tensors as torch stores them (shared storages, offsets, transposes) and their values."""
    rng = np.random.default_rng(7)
    conv = _Storage("0", rng.standard_normal(2 * 3 * 4, dtype=np.float32))
    shared = _Storage("1", np.arange(20, dtype=np.int64))
    half = _Storage("2", np.array([0.5, -2.0, 65504.0], dtype=np.float16))
    flags = _Storage("3", np.array([True, False, True]))
    tensors = {
        "conv.weight": _Tensor(conv, 0, (2, 3, 4), (12, 4, 1)),
        "conv.weight_t": _Tensor(conv, 0, (4, 3, 2), (1, 4, 12)),
        "slice": _Tensor(shared, 5, (2, 3), (6, 2)),
        "scalar": _Tensor(shared, 19, (), ()),
        "half": _Tensor(half, 0, (3,), (1,)),
        "flags": _Tensor(flags, 1, (2,), (1,)),
        "empty": _Tensor(shared, 0, (0, 4), (4, 1)),
    }
    conv_values = conv.data.reshape(2, 3, 4)
    expected = {
        "conv.weight": conv_values,
        "conv.weight_t": conv_values.transpose(2, 1, 0),
        "slice": np.array([[5, 7, 9], [11, 13, 15]], dtype=np.int64),
        "scalar": np.array(19, dtype=np.int64),
        "half": half.data,
        "flags": np.array([False, True]),
        "empty": np.zeros((0, 4), dtype=np.int64),
    }
    return tensors, expected


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_it_reads_tensors_as_torch_lays_them_out(
    fake_torch: types.SimpleNamespace, tmp_path: Path, layout: str
) -> None:
    tensors, expected = _example_tensors()
    path = tmp_path / "weights.pt"
    (_write_zip if layout == "zip" else _write_legacy)(fake_torch, tensors, path)

    arrays = load_state_dict(path)

    assert list(arrays) == list(expected)
    for name, want in expected.items():
        assert arrays[name].dtype == want.dtype, name
        assert arrays[name].shape == want.shape, name
        np.testing.assert_array_equal(arrays[name], want, err_msg=name)
        assert arrays[name].flags.c_contiguous and arrays[name].flags.writeable


def test_it_rejects_a_tensor_that_reaches_past_its_storage(
    fake_torch: types.SimpleNamespace, tmp_path: Path
) -> None:
    storage = _Storage("0", np.zeros(6, dtype=np.float32))
    path = tmp_path / "weights.pt"
    _write_zip(fake_torch, {"w": _Tensor(storage, 2, (2, 3), (3, 1))}, path)

    with pytest.raises(UnsafePickleError, match="past its storage"):
        load_state_dict(path)


class _RunsCode:
    """Unpickling this would call ``os.mkdir(marker)``: the classic pickle exploit."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return os.mkdir, (str(self.marker),)


class _CallsEval:
    def __reduce__(self) -> tuple[Any, ...]:
        return eval, ("__import__('os').getcwd()",)


@pytest.mark.parametrize("payload", ["mkdir", "eval"])
@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_it_refuses_a_pickle_that_would_run_code(tmp_path: Path, layout: str, payload: str) -> None:
    marker = tmp_path / "pwned"
    evil = _RunsCode(marker) if payload == "mkdir" else _CallsEval()
    body = pickle.dumps(collections.OrderedDict(weight=evil), protocol=2)
    path = tmp_path / "weights.pt"
    if layout == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", body)
    else:
        with path.open("wb") as f:
            for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
                pickle.dump(header, f, protocol=2)
            f.write(body)

    with pytest.raises(UnsafePickleError, match="refusing to load global"):
        load_state_dict(path)
    assert not marker.exists()


def test_it_refuses_code_hidden_in_the_legacy_header(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "weights.pt"
    path.write_bytes(pickle.dumps(_RunsCode(marker), protocol=2))

    with pytest.raises(UnsafePickleError):
        load_state_dict(path)
    assert not marker.exists()
