"""Pure pre- and post-processing of detectors, shared by the edge agent and the cloud.

Letterbox, NanoDet decode, NMS, back to the frame, and the padded crop rectangle: the edge runs
them on camera frames, the cloud on uploaded images (query by example), so an uploaded photo is
detected and cut exactly as a camera frame is. Each side keeps its own ONNX Runtime session;
this module holds no model and needs only numpy and OpenCV, which both runtimes have.

Coordinates: `decode_nanodet` returns boxes in model-input pixels (the letterboxed canvas);
`LetterboxTransform.to_frame` and `to_detections` map them to frame pixels. Boxes are always
`x1, y1, x2, y2` with x to the right and y down.

NanoDet contract (the converted NanoDet-g, README "Models"): per stride s in (8, 16, 32) the model
gives sigmoid class scores `[1, cells, 80]` and box logits `[1, cells, 44]` (left, top, right,
bottom x 11 bins). Cell i sits at row i // grid_w, col i % grid_w with centre ((col + 0.5) s, (row +
0.5) s); each side's distance is s times the expected bin under the softmax of its logits. The ONNX
outputs carry the names in `NANODET_OUTPUT_NAMES` (set by `export/tfjs_to_onnx.py`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

NANODET_STRIDES = (8, 16, 32)
NANODET_OUTPUT_NAMES: Mapping[int, tuple[str, str]] = {
    stride: (f"scores_stride{stride}", f"box_logits_stride{stride}") for stride in NANODET_STRIDES
}
NANODET_BINS = 11  # reg_max + 1 in upstream NanoDet


@dataclass(frozen=True, slots=True)
class Detection:
    """One detected object in frame pixels."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    class_id: int
    label: str


@dataclass(frozen=True, slots=True)
class RawDetections:
    """Decoded detections as arrays, in model-input pixels, sorted by descending score."""

    boxes: FloatArray  # [N, 4] x1, y1, x2, y2
    scores: FloatArray  # [N]
    class_ids: npt.NDArray[np.int64]  # [N]

    def __len__(self) -> int:
        return len(self.scores)


@dataclass(frozen=True, slots=True)
class LetterboxTransform:
    """How `letterbox` placed a frame on the model canvas: input = frame * scale + pad."""

    scale: float
    pad_x: int
    pad_y: int
    frame_width: int
    frame_height: int

    def to_frame(self, boxes: FloatArray) -> FloatArray:
        """Map `[N, 4]` boxes from model-input pixels to frame pixels, clipped to the frame."""
        out = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, self.frame_width)
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, self.frame_height)
        return out


def letterbox(
    frame: npt.NDArray[np.uint8], size: tuple[int, int]
) -> tuple[npt.NDArray[np.uint8], LetterboxTransform]:
    """Scale `frame` (H, W, 3) to fit `size` (width, height) keeping its aspect, centred on black.

    The scale is `min(width / w, height / h)`; the leftover border is split evenly (the odd pixel
    goes right/bottom).
    """
    height, width = frame.shape[:2]
    transform = letterbox_transform((width, height), size)
    new_w, new_h = round(width * transform.scale), round(height * transform.scale)
    resized = frame if (new_w, new_h) == (width, height) else cv2.resize(frame, (new_w, new_h))
    canvas = np.zeros((size[1], size[0], frame.shape[2]), dtype=np.uint8)
    x, y = transform.pad_x, transform.pad_y
    canvas[y : y + new_h, x : x + new_w] = resized
    return canvas, transform


def letterbox_transform(frame_size: tuple[int, int], size: tuple[int, int]) -> LetterboxTransform:
    """Where `letterbox` puts a frame of `frame_size` (width, height) on a `size` canvas, without
    the pixels: for runtimes that letterbox themselves (DeepStream's nvinfer with symmetric
    padding), whose model-input boxes still have to be mapped back to the frame."""
    width, height = frame_size
    target_w, target_h = size
    scale = min(target_w / width, target_h / height)
    new_w, new_h = round(width * scale), round(height * scale)
    return LetterboxTransform(
        scale, (target_w - new_w) // 2, (target_h - new_h) // 2, width, height
    )


def to_nchw(
    image: npt.NDArray[np.uint8],
    mean: Sequence[float],
    std: Sequence[float],
    *,
    swap_rb: bool = False,
) -> FloatArray:
    """`(image - mean) / std` as a float32 `[1, 3, H, W]` tensor; `swap_rb` turns BGR into RGB.

    `mean`/`std` are per channel in the order the model expects (after any swap).
    """
    pixels = image[:, :, ::-1] if swap_rb else image
    normalized = (pixels.astype(np.float32) - np.asarray(mean, np.float32)) / np.asarray(
        std, np.float32
    )
    return np.ascontiguousarray(normalized.transpose(2, 0, 1)[None])


def _level_boxes(box_logits: FloatArray, stride: int, grid_w: int) -> FloatArray:
    """Decode `[cells, 4 * bins]` logits of one level into `[cells, 4]` x1, y1, x2, y2."""
    logits = box_logits.reshape(len(box_logits), 4, -1)
    # Subtracting the max keeps exp() finite without changing the softmax.
    weights = np.exp(logits - logits.max(axis=2, keepdims=True))
    weights /= weights.sum(axis=2, keepdims=True)
    distances = (weights @ np.arange(logits.shape[2], dtype=np.float32)) * stride
    cells = np.arange(len(box_logits))
    cx = ((cells % grid_w) + 0.5) * stride
    cy = ((cells // grid_w) + 0.5) * stride
    return np.stack(
        [cx - distances[:, 0], cy - distances[:, 1], cx + distances[:, 2], cy + distances[:, 3]],
        axis=1,
    ).astype(np.float32)


def decode_nanodet(
    scores: Sequence[FloatArray],
    box_logits: Sequence[FloatArray],
    *,
    input_size: tuple[int, int] = (416, 416),
    strides: Sequence[int] = NANODET_STRIDES,
    score_threshold: float = 0.05,
    pre_nms_top_k: int = 1000,
    iou_threshold: float = 0.6,
    max_detections: int = 100,
    class_agnostic: bool = False,
) -> RawDetections:
    """Decode NanoDet outputs (one score and one box-logit array per stride) into detections.

    Follows upstream NanoDet: per level keep the `pre_nms_top_k` cells with the highest class
    score, take every (cell, class) pair scoring above `score_threshold`, run NMS per class at
    `iou_threshold` (across classes when `class_agnostic`, which stops one object from being
    counted as both car and truck) and keep the best `max_detections`. Raising `score_threshold`
    to a serving threshold gives the same boxes above it as filtering afterwards, faster.
    Arrays may carry a leading batch axis of 1. Boxes are clipped to `input_size` (width, height).
    """
    width, height = input_size
    level_boxes, level_scores = [], []
    for stride, level_score, level_logits in zip(strides, scores, box_logits, strict=True):
        cls = np.asarray(level_score, np.float32).reshape(-1, level_score.shape[-1])
        reg = np.asarray(level_logits, np.float32).reshape(len(cls), -1)
        grid_w = -(-width // stride)
        if len(cls) != grid_w * -(-height // stride):
            raise ValueError(f"stride {stride}: {len(cls)} cells do not tile {width}x{height}")
        keep = np.arange(len(cls))
        if len(cls) > pre_nms_top_k:
            keep = np.argpartition(-cls.max(axis=1), pre_nms_top_k)[:pre_nms_top_k]
        level_boxes.append(_level_boxes(reg, stride, grid_w)[keep])
        level_scores.append(cls[keep])
    boxes = np.concatenate(level_boxes)
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
    all_scores = np.concatenate(level_scores)
    cell_ids, class_ids = np.nonzero(all_scores > score_threshold)
    candidate_scores = all_scores[cell_ids, class_ids]
    kept = _nms(
        boxes[cell_ids], candidate_scores, class_ids, score_threshold, iou_threshold, class_agnostic
    )[:max_detections]
    return RawDetections(
        boxes=boxes[cell_ids[kept]],
        scores=candidate_scores[kept].astype(np.float32),
        class_ids=class_ids[kept].astype(np.int64),
    )


def _nms(
    boxes: FloatArray,
    scores: FloatArray,
    class_ids: npt.NDArray[np.intp],
    score_threshold: float,
    iou_threshold: float,
    class_agnostic: bool,
) -> npt.NDArray[np.intp]:
    """Indices kept by greedy NMS, best score first (OpenCV's implementation)."""
    if len(scores) == 0:
        return np.zeros(0, dtype=np.intp)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1).astype(np.float64)
    if class_agnostic:
        kept = cv2.dnn.NMSBoxes(xywh, scores.tolist(), score_threshold, iou_threshold)
    else:
        kept = cv2.dnn.NMSBoxesBatched(
            xywh, scores.tolist(), class_ids.tolist(), score_threshold, iou_threshold
        )
    return np.asarray(kept, dtype=np.intp).reshape(-1)


def nanodet_levels(
    outputs: Mapping[str, FloatArray],
) -> tuple[list[FloatArray], list[FloatArray]]:
    """Pick the per-stride score and box-logit arrays out of ONNX outputs keyed by name."""
    scores = [outputs[NANODET_OUTPUT_NAMES[s][0]] for s in NANODET_STRIDES]
    box_logits = [outputs[NANODET_OUTPUT_NAMES[s][1]] for s in NANODET_STRIDES]
    return scores, box_logits


def to_detections(
    raw: RawDetections, transform: LetterboxTransform, labels: Sequence[str]
) -> list[Detection]:
    """Map decoded detections to frame pixels and attach their label names."""
    boxes = transform.to_frame(raw.boxes)
    return [
        Detection(
            x1=float(box[0]),
            y1=float(box[1]),
            x2=float(box[2]),
            y2=float(box[3]),
            score=float(score),
            class_id=int(class_id),
            label=labels[class_id] if 0 <= class_id < len(labels) else str(class_id),
        )
        for box, score, class_id in zip(boxes, raw.scores, raw.class_ids, strict=True)
    ]


def iou_matrix(
    boxes_a: npt.NDArray[np.float64], boxes_b: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Intersection over union of every box in `boxes_a` (N, 4) with every box in `boxes_b` (M, 4).

    Boxes are (x1, y1, x2, y2); degenerate boxes give 0, never NaN.
    """
    if len(boxes_a) == 0 or len(boxes_b) == 0:
        return np.zeros((len(boxes_a), len(boxes_b)))
    a = boxes_a[:, None, :]
    b = boxes_b[None, :, :]
    inter_w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    inter_h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = inter_w * inter_h
    area_a = np.clip(a[..., 2] - a[..., 0], 0, None) * np.clip(a[..., 3] - a[..., 1], 0, None)
    area_b = np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    union = area_a + area_b - inter
    iou: npt.NDArray[np.float64] = np.divide(
        inter, union, out=np.zeros_like(inter), where=union > 0
    )
    return iou


class BoxLike(Protocol):
    """Anything with `x1, y1, x2, y2` in frame pixels (a `Detection`, the edge's tracker box)."""

    @property
    def x1(self) -> float:
        """Left edge."""

    @property
    def y1(self) -> float:
        """Top edge."""

    @property
    def x2(self) -> float:
        """Right edge (exclusive)."""

    @property
    def y2(self) -> float:
        """Bottom edge (exclusive)."""


def padded_rect(
    box: BoxLike, frame_width: int, frame_height: int, padding: float = 0.0
) -> tuple[int, int, int, int]:
    """The box grown by `padding` x its width/height on each side, rounded outwards, clipped:
    the integer `(x1, y1, x2, y2)` a crop cuts (rows y1..y2-1, columns x1..x2-1).

    Padding gives the embedder and a human some context around a tight detector box. The result
    may be empty (x1 == x2 or y1 == y2) when the box lies outside the frame.
    """
    width, height = max(0.0, box.x2 - box.x1), max(0.0, box.y2 - box.y1)
    pad_x, pad_y = width * padding, height * padding
    x1 = min(max(math.floor(box.x1 - pad_x), 0), frame_width)
    y1 = min(max(math.floor(box.y1 - pad_y), 0), frame_height)
    x2 = min(max(math.ceil(box.x2 + pad_x), x1), frame_width)
    y2 = min(max(math.ceil(box.y2 + pad_y), y1), frame_height)
    return x1, y1, x2, y2
