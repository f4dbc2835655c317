"""The built NanoDet-g model for edge tests: skip when it is missing, fail when CI is set."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.detectors.base import ModelSettings
from edge.detectors.ort import OrtSettings
from tests.footage.clips import clip_path

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "models" / "nanodet-g.toml"
BUILD_HINT = "build it with `uv run python -m models build nanodet-g`"


def built_model() -> Path:
    """Path of the built model file in the cache (skips, or fails under CI, when missing)."""
    root = Path(os.environ.get("SIGHTLINE_CACHE_DIR") or Path.home() / ".cache" / "sightline")
    path = root / "models" / "nanodet-g" / "1" / "nanodet-g.onnx"
    if not path.is_file():
        reason = f"{path} is missing: {BUILD_HINT}"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{reason} (CI is set)", pytrace=False)
        pytest.skip(reason)
    return path


def detector_settings(threads: int = 1, **overrides: object) -> OrtSettings:
    """Settings for the real model (skips when it is not built)."""
    built_model()
    return OrtSettings.model_validate(
        {"model": ModelSettings(manifest=MANIFEST), "intra_op_threads": threads, **overrides}
    )


def tampered_copy(directory: Path) -> Path:
    """The manifest and a copy of the model beside it with one byte flipped; returns the
    manifest copy (whose default file lookup finds the tampered model first)."""
    model = built_model()
    manifest = directory / MANIFEST.name
    shutil.copyfile(MANIFEST, manifest)
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    (directory / model.name).write_bytes(bytes(data))
    return manifest


def clip_frames(count: int, name: str = "vtest-3s.avi") -> list[np.ndarray]:
    """The first `count` frames (BGR) of a derived test clip."""
    capture = cv2.VideoCapture(str(clip_path(name)))
    images = []
    for _ in range(count):
        ok, image = capture.read()
        assert ok, f"{name} has fewer than {count} frames"
        images.append(image)
    capture.release()
    return images
