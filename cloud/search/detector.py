"""The object detector of query by example: an uploaded image in, detected objects out.

The edge's detector model (NanoDet-g, `models/nanodet-g.toml`) run the way the edge runs it:
the same letterbox and normalisation from the manifest, the same decode and NMS
(`models.detection`), so an uploaded frame gives the boxes a camera would have sent. Only the
ONNX Runtime session is the cloud's own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cloud.lib.onnx_runtime import check_pinned, cpu_session
from models.cache import built_model
from models.detection import (
    Detection,
    decode_nanodet,
    letterbox,
    nanodet_levels,
    to_detections,
    to_nchw,
)
from models.errors import ModelError
from models.manifest import RuntimeManifest, manifest_path, read_runtime_manifest

logger = logging.getLogger(__name__)

DETECTOR_MODEL_NAME = "nanodet-g"
"""Manifest name in `models/` of the detector the edge runs by default."""

Image = npt.NDArray[np.uint8]


class UploadDetector:
    """NanoDet on ONNX Runtime's CPU provider; `detect` may be called from several threads.

    Detection settings mirror the edge's defaults (class-agnostic NMS at IoU 0.6, at most 100
    boxes); the score threshold is the caller's, since a user picks among what is shown.
    """

    def __init__(self, model_path: Path, manifest: RuntimeManifest, *, threads: int = 1) -> None:
        """Verify the file against the manifest's sha256 and load it.

        Raises `models.errors.ModelError` for a tampered file or a manifest that is not a
        letterboxed NCHW detector with labels.
        """
        spec = manifest.input
        shape = spec.shape
        if (
            manifest.task != "detector"
            or (spec.layout, spec.dtype, spec.resize) != ("NCHW", "float32", "letterbox")
            or spec.color is None
            or spec.mean is None
            or spec.std is None
            or manifest.labels is None
            or len(shape) != 4
            or not isinstance(shape[2], int)
            or not isinstance(shape[3], int)
        ):
            raise ModelError(f"{manifest.name}: not a letterboxed NCHW detector with labels")
        check_pinned(model_path, manifest)
        self._session = cpu_session(model_path, threads=threads, spinning=False)
        self._input = spec.name
        self._size = (shape[3], shape[2])
        self._mean, self._std = spec.mean, spec.std
        self._swap_rb = spec.color == "RGB"
        self._labels: Sequence[str] = manifest.labels.names
        self._outputs = [output.name for output in self._session.get_outputs()]
        logger.info("loaded upload detector %s %s", manifest.name, manifest.version)

    def detect(self, image: Image, *, score_threshold: float) -> list[Detection]:
        """Objects in a BGR image, best first, boxes in the image's pixels."""
        canvas, transform = letterbox(image, self._size)
        tensor = to_nchw(canvas, self._mean, self._std, swap_rb=self._swap_rb)
        # ONNX Runtime's InferenceSession.run is thread-safe.
        outputs = self._session.run(self._outputs, {self._input: tensor})
        scores, box_logits = nanodet_levels(dict(zip(self._outputs, outputs, strict=True)))
        raw = decode_nanodet(
            scores,
            box_logits,
            input_size=self._size,
            score_threshold=score_threshold,
            class_agnostic=True,
        )
        return to_detections(raw, transform, self._labels)


def load_upload_detector(*, threads: int = 1) -> UploadDetector:
    """The detector from its manifest and the built, verified model in the cache.

    Raises `models.errors.ModelError` (`ModelNotBuiltError` naming the build command).
    """
    manifest = read_runtime_manifest(manifest_path(DETECTOR_MODEL_NAME))
    return UploadDetector(built_model(manifest), manifest, threads=threads)
