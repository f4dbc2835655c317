"""INT8 calibration: real images in full batches, the feed TensorRT pulls from, the table file,
and the calibrator class made against stand-ins of tensorrt and pycuda with their real shapes."""

from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from export.calibration import (
    CalibrationFeed,
    CalibrationPlan,
    cache_path,
    calibration_batches,
    make_entropy_calibrator,
)
from export.samples import input_tensor
from models.manifest import InputSpec

SPEC = InputSpec(
    name="images", shape=("batch", 3, 32, 16), dtype="float32", layout="NCHW", color="RGB",
    mean=(1.0, 2.0, 3.0), std=(2.0, 2.0, 2.0), resize="stretch",
)  # fmt: skip
SHA = "ab" * 32


def _images(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(count)
    return [rng.integers(0, 256, (40 + i, 20 + i, 3), dtype=np.uint8) for i in range(count)]


def test_images_become_full_batches_fed_as_the_runtime_feeds_them() -> None:
    images = _images(7)

    batches = calibration_batches(images, SPEC, 3)

    assert [b.shape for b in batches] == [(3, 3, 32, 16), (3, 3, 32, 16)]  # the 7th is dropped
    assert all(b.dtype == np.float32 and b.flags.c_contiguous for b in batches)
    np.testing.assert_array_equal(batches[1][2], input_tensor(images[5], SPEC))


def test_too_few_images_for_one_batch_is_an_error() -> None:
    with pytest.raises(ValueError, match="2 images do not fill one batch of 4"):
        calibration_batches(_images(2), SPEC, 4)


@pytest.mark.parametrize(("frames", "crops", "batch"), [(2, 1, 4), (-1, 8, 4), (8, 8, 0)])
def test_a_plan_that_cannot_fill_a_batch_is_refused(frames: int, crops: int, batch: int) -> None:
    with pytest.raises(ValueError):
        CalibrationPlan(frames, crops, batch)


def test_the_table_file_is_per_model_and_plan(tmp_path: Path) -> None:
    a = cache_path(tmp_path, SHA, CalibrationPlan(64, 0, 8))
    b = cache_path(tmp_path, SHA, CalibrationPlan(64, 32, 8))
    c = cache_path(tmp_path, "cd" * 32, CalibrationPlan(64, 0, 8))

    assert len({a, b, c}) == 3 and a.parent == tmp_path


def test_the_feed_gives_each_batch_once_with_progress(tmp_path: Path) -> None:
    batches = calibration_batches(_images(6), SPEC, 2)
    seen: list[tuple[str, float]] = []
    feed = CalibrationFeed(batches, tmp_path / "t.calibration", lambda s, f: seen.append((s, f)))

    given = [feed.next_batch() for _ in range(4)]

    assert [g is b for g, b in zip(given, batches, strict=False)] == [True, True, True]
    assert given[3] is None and feed.batches_given == 3
    assert feed.batch_size == 2 and feed.batch_nbytes == batches[0].nbytes
    assert seen == [("calibration batches", 1 / 3), ("calibration batches", 2 / 3),
                    ("calibration batches", 1.0)]  # fmt: skip


def test_the_table_round_trips_and_goes_into_the_record(tmp_path: Path) -> None:
    feed = CalibrationFeed(calibration_batches(_images(2), SPEC, 2), tmp_path / "c" / "t.cal")
    assert feed.read_cache() is None

    feed.write_cache(b"TRT-8601-EntropyCalibration2\n")
    record = feed.record(CalibrationPlan(frames=2, crops=0, batch_size=2))

    assert feed.read_cache() == b"TRT-8601-EntropyCalibration2\n"
    assert (record.frames, record.crops, record.batch_size) == (2, 0, 2)
    assert record.cache_sha256 == hashlib.sha256(b"TRT-8601-EntropyCalibration2\n").hexdigest()
    assert list((tmp_path / "c").iterdir()) == [tmp_path / "c" / "t.cal"]  # no temporary left


class _FakeCalibratorBase:
    """tensorrt.IInt8EntropyCalibrator2 as Python sees it: a base whose __init__ must run."""

    def __init__(self) -> None:
        self.base_initialised = True


class _FakeDriver:
    """pycuda.driver: init, the device's primary context, mem_alloc (an allocation that int()
    turns into a device pointer) and memcpy_htod, each call recording the context stack."""

    def __init__(self) -> None:
        self.copies: list[tuple[int, np.ndarray, list[str]]] = []
        self.allocated: list[tuple[int, list[str]]] = []
        self.stack: list[str] = []
        self.initialised = False
        driver = self

        class Context:
            @staticmethod
            def pop() -> None:
                driver.stack.pop()

        class Primary:
            def push(self) -> None:
                driver.stack.append("primary")

        class Device:
            def __init__(self, ordinal: int) -> None:
                assert ordinal == 0 and driver.initialised

            def retain_primary_context(self) -> Primary:
                return Primary()

        self.Context = Context
        self.Device = Device

    def init(self) -> None:
        self.initialised = True

    def mem_alloc(self, nbytes: int) -> Any:
        self.allocated.append((nbytes, list(self.stack)))
        return _Pointer(0xDEAD)

    def memcpy_htod(self, dest: Any, array: np.ndarray) -> None:
        self.copies.append((int(dest), array.copy(), list(self.stack)))


class _Pointer:
    def __init__(self, value: int) -> None:
        self.value = value

    def __int__(self) -> int:
        return self.value


def test_the_calibrator_copies_each_batch_to_one_device_buffer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = _FakeDriver()
    trt = types.ModuleType("tensorrt")
    trt.IInt8EntropyCalibrator2 = _FakeCalibratorBase  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "pycuda", types.ModuleType("pycuda"))
    monkeypatch.setitem(sys.modules, "pycuda.driver", driver)
    batches = calibration_batches(_images(4), SPEC, 2)
    feed = CalibrationFeed(batches, tmp_path / "t.calibration")

    calibrator = make_entropy_calibrator(feed)

    assert isinstance(calibrator, _FakeCalibratorBase) and calibrator.base_initialised
    # Allocated and filled in the primary context, which is current only around those calls.
    assert driver.allocated == [(batches[0].nbytes, ["primary"])]
    assert calibrator.get_batch_size() == 2
    assert calibrator.get_batch(["images"]) == [0xDEAD]
    assert calibrator.get_batch(["images"]) == [0xDEAD]
    assert calibrator.get_batch(["images"]) is None
    assert [(pointer, stack) for pointer, _, stack in driver.copies] == [
        (0xDEAD, ["primary"]),
        (0xDEAD, ["primary"]),
    ]
    assert driver.stack == []
    np.testing.assert_array_equal(driver.copies[1][1], batches[1])
    assert calibrator.read_calibration_cache() is None
    calibrator.write_calibration_cache(memoryview(b"table"))
    assert calibrator.read_calibration_cache() == b"table"
