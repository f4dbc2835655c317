"""Real frames and person crops from a video, and the model input each becomes.

Public surface: `read_frames`, `person_crops`, `input_tensor`, `stack_inputs` and `Samples`.

Exported models are checked (`export.parity`) and INT8-calibrated (`export.calibration`) on real
footage, never on random tensors: random inputs exercise none of the activation ranges a camera
gives, so they hide both converter bugs that only bite on real images and calibration that
clips real activations. Detectors get whole frames, embedders get person crops, fed exactly as
the runtimes feed them: the letterbox and normalisation of `models.detection` (the edge
detector and the cloud's query-by-example detector use the same functions) or the stretch of
the cloud's crop embedder, with the mean, std and colour order of the model's `InputSpec`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from models.detection import letterbox, padded_rect, to_nchw
from models.manifest import InputSpec

Image = npt.NDArray[np.uint8]
"""A BGR image, height x width x 3, as OpenCV decodes it."""
FloatArray = npt.NDArray[np.float32]

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
"""795 frames of CCTV-like pedestrians (Debian's opencv-doc): the default footage."""
CROP_PADDING = 0.1
"""Context around each person box, as the edge's crop padding default."""


class SamplesError(ValueError):
    """The footage cannot give the samples asked for; the message says why."""


@dataclass(frozen=True)
class Box:
    """A person box in frame pixels (`models.detection.BoxLike`)."""

    x1: float
    y1: float
    x2: float
    y2: float


def read_frames(video: Path, indices: Sequence[int]) -> list[Image]:
    """The frames of `video` at `indices` (ascending, distinct), decoded in one pass."""
    if list(indices) != sorted(set(indices)) or (indices and indices[0] < 0):
        raise SamplesError(f"frame indices must be ascending and distinct: {list(indices)[:8]}")
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise SamplesError(f"{video}: cannot be opened as a video")
    wanted, frames = set(indices), []
    try:
        for index in range(indices[-1] + 1 if indices else 0):
            ok, frame = capture.read()
            if not ok:
                raise SamplesError(f"{video} ends at frame {index}; frame {indices[-1]} is needed")
            if index in wanted:
                frames.append(np.asarray(frame, dtype=np.uint8))
    finally:
        capture.release()
    return frames


def frame_count(video: Path) -> int:
    """How many frames `video` holds, as its container says."""
    capture = cv2.VideoCapture(str(video))
    try:
        if not capture.isOpened():
            raise SamplesError(f"{video}: cannot be opened as a video")
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()


def spread(count: int, start: int, stop: int) -> list[int]:
    """`count` distinct frame indices spread evenly over `[start, stop)`."""
    if count > stop - start:
        raise SamplesError(f"{count} frames do not fit in frames {start}..{stop - 1}")
    return [start + (i * (stop - start)) // count for i in range(count)]


def person_crops(frames: Sequence[Image], limit: int) -> list[Image]:
    """Up to `limit` padded person crops from `frames`, found by OpenCV's HOG people detector.

    HOG rather than one of our detectors, so that checking or calibrating a detector never
    depends on another model being built; the crops are cut as the edge cuts them
    (`models.detection.padded_rect`).
    """
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32))
    crops: list[Image] = []
    for frame in frames:
        height, width = frame.shape[:2]
        found, _ = hog.detectMultiScale(frame, winStride=(8, 8))
        for x, y, w, h in found:
            x1, y1, x2, y2 = padded_rect(Box(x, y, x + w, y + h), width, height, CROP_PADDING)
            if x2 > x1 and y2 > y1:
                crops.append(np.ascontiguousarray(frame[y1:y2, x1:x2]))
            if len(crops) == limit:
                return crops
    return crops


def _size(spec: InputSpec) -> tuple[int, int]:
    if spec.layout != "NCHW" or spec.dtype != "float32" or len(spec.shape) != 4:
        raise SamplesError(f"only NCHW float32 image inputs are supported, not {spec}")
    height, width = spec.shape[2], spec.shape[3]
    if not isinstance(height, int) or not isinstance(width, int) or spec.shape[1] != 3:
        raise SamplesError(f"the input must be [batch, 3, height, width] with fixed sizes: {spec}")
    return width, height


def input_tensor(image: Image, spec: InputSpec) -> FloatArray:
    """`image` (BGR) as one model input, `[3, height, width]` float32, fed as `spec` says.

    `resize="letterbox"` is the detectors' letterbox (`models.detection.letterbox`), anything
    else the crop embedder's stretch (`cv2.resize`, bilinear); then `(pixel - mean) / std` in the
    model's colour order (`models.detection.to_nchw`).
    """
    size = _size(spec)
    if spec.resize == "letterbox":
        canvas, _ = letterbox(image, size)
    else:
        canvas = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR), np.uint8)
    mean = spec.mean if spec.mean is not None else (0.0, 0.0, 0.0)
    std = spec.std if spec.std is not None else (1.0, 1.0, 1.0)
    tensor: FloatArray = to_nchw(canvas, mean, std, swap_rb=spec.color == "RGB")[0]
    return tensor


def stack_inputs(images: Sequence[Image], spec: InputSpec) -> FloatArray:
    """`images` as one `[N, 3, height, width]` batch (see `input_tensor`)."""
    if not images:
        raise SamplesError("no images to stack")
    return np.stack([input_tensor(image, spec) for image in images])


@dataclass(frozen=True)
class Samples:
    """Real images for one purpose (parity, calibration, held-out): frames and person crops."""

    frames: tuple[Image, ...]
    crops: tuple[Image, ...]

    @property
    def images(self) -> tuple[Image, ...]:
        """Frames then crops."""
        return (*self.frames, *self.crops)


def load_samples(video: Path, *, frames: int, crops: int, first: int, stop: int) -> Samples:
    """`frames` frames spread over `[first, stop)` of `video`, and `crops` person crops cut from
    frames spread over the same range (one frame scanned per two crops: vtest.avi shows three to
    eight walkers at a time). Raises `SamplesError` when the range holds fewer."""
    if frames < 0 or crops < 0 or frames + crops == 0:
        raise SamplesError(f"ask for some frames or crops (got {frames} and {crops})")
    frame_list = read_frames(video, spread(frames, first, stop)) if frames else []
    crop_list: list[Image] = []
    if crops:
        scanned = spread(min(stop - first, max(4, -(-crops // 2))), first, stop)
        crop_list = person_crops(read_frames(video, scanned), crops)
        if len(crop_list) < crops:
            raise SamplesError(
                f"{video} frames {first}..{stop - 1}: {len(crop_list)} person crops, {crops} needed"
            )
    return Samples(tuple(frame_list), tuple(crop_list))
