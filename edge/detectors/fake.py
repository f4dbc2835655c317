"""`FakeDetector`: scripted detections behind the `Detector` protocol, for tests and local runs.

No model and no runtime: each `detect` returns the next `RawDetections` of a script (model-input
pixels, as the protocol says) and empty detections once the script is spent. `fake_model_spec`
builds the `ModelSpec` in code. With `input_size` equal to the frame size the letterbox is the
identity, so scripted boxes are frame pixels; `raw_detections` builds one frame's detections
from (box, score, class id) triples.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from edge.detectors.model import ModelSpec
from edge.geometry import PixelBox
from models.detection import FloatArray, RawDetections


def fake_model_spec(
    *, labels: tuple[str, ...] = ("person", "car"), input_size: tuple[int, int] = (320, 240)
) -> ModelSpec:
    """The spec of a model that is not there: `labels` by class id, `input_size` (width, height),
    BGR input left unnormalised. Its file cannot be read (nothing needs to)."""
    return ModelSpec(
        name="fake",
        version="1",
        path=Path("fake.onnx"),
        sha256="0" * 64,
        input_name="input",
        input_size=input_size,
        color="BGR",
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        labels=labels,
    )


def raw_detections(detections: Sequence[tuple[PixelBox, float, int]]) -> RawDetections:
    """One frame's detections from (box, score, class id) triples, sorted by descending score."""
    ordered = sorted(detections, key=lambda detection: -detection[1])
    return RawDetections(
        boxes=np.array(
            [[box.x1, box.y1, box.x2, box.y2] for box, _, _ in ordered], dtype=np.float32
        ).reshape(-1, 4),
        scores=np.array([score for _, score, _ in ordered], dtype=np.float32),
        class_ids=np.array([class_id for _, _, class_id in ordered], dtype=np.int64),
    )


class FakeDetector:
    """Returns `script`'s detections one frame per `detect` call; thread-safe (calls from several
    cameras take the script's items in turn)."""

    def __init__(self, script: Iterable[RawDetections], *, spec: ModelSpec | None = None) -> None:
        """`script` may be any iterable, a generator too (it is read lazily, one item per call);
        `spec` defaults to `fake_model_spec()`."""
        self._script = iter(script)
        self._spec = spec or fake_model_spec()
        self._lock = threading.Lock()
        self._closed = False
        self.calls = 0
        """How many times `detect` ran."""

    @property
    def spec(self) -> ModelSpec:
        """The model it pretends to run."""
        return self._spec

    def detect(self, tensor: FloatArray) -> RawDetections:
        """The next scripted detections; raises ValueError for a tensor that does not fit the
        spec (a preprocessing bug a real model would fail on too)."""
        width, height = self._spec.input_size
        if tensor.shape != (1, 3, height, width) or tensor.dtype != np.float32:
            raise ValueError(
                f"expected a float32 tensor of shape (1, 3, {height}, {width}), "
                f"got {tensor.dtype} {tensor.shape}"
            )
        with self._lock:
            if self._closed:
                raise RuntimeError("detect called after close")
            self.calls += 1
            scripted = next(self._script, None)
        return raw_detections([]) if scripted is None else scripted

    def close(self) -> None:
        """Refuse further `detect` calls, as a closed runtime would."""
        with self._lock:
            self._closed = True
