"""The INT8 parity gate: how far an INT8 engine drifts from the FP16 one, and whether to keep it.

Public surface: `GateBound`, `box_agreement`, `embedding_agreement`, `decide`, `DETECTOR_METRIC`
and `EMBEDDER_METRIC`.

INT8 calibrated on a small set can lose about half of a detector's mAP (NVIDIA forum reports for
Jetson), and nothing at build time says so. So the INT8 engine is run beside the FP16 engine on
held-out real frames (never the calibration ones) and judged by what the runtime uses:

- a detector by its decoded boxes: the share of FP16 boxes that INT8 loses (no INT8 box of the
  same class at IoU >= 0.5, matched greedily best score first), so a lost or misplaced box
  counts, not a small change of a raw logit that decoding absorbs;
- an embedder by the mean cosine distance (1 - cosine) between its FP16 and INT8 embeddings
  of the same crops, which is what search and tracking compare.

Both are drops from FP16, recorded as `models.engines.ParityRecord` (passed when the value
stays within the bound).

FP16 is the reference rather than FP32 because it is the engine the INT8 one replaces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from export.parity import row_cosines
from models.detection import RawDetections, iou_matrix
from models.engines import ParityRecord

DETECTOR_METRIC = "fp16_boxes_lost_iou0.5"
EMBEDDER_METRIC = "fp16_mean_cosine_distance"
MATCH_IOU = 0.5


class GateBound(BaseModel):
    """The largest drop from FP16 an INT8 engine may show and still be accepted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    boxes_lost: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Detectors: share of the FP16 boxes (above the judged score threshold) that "
        "INT8 may lose. 0.1 refuses an engine that loses more than one box in ten.",
    )
    cosine_distance: float = Field(
        default=0.02,
        ge=0,
        le=2,
        description="Embedders: mean cosine distance (1 - cosine) between FP16 and INT8 "
        "embeddings of the same crops.",
    )


def _matched(reference: RawDetections, candidate: RawDetections) -> list[float]:
    """IoUs of the reference boxes that found a candidate partner, best reference score first."""
    free = np.ones(len(candidate), dtype=bool)
    matched = []
    ious = iou_matrix(reference.boxes.astype(np.float64), candidate.boxes.astype(np.float64))
    for index in np.argsort(-reference.scores, kind="stable"):
        overlaps = ious[index].copy()
        overlaps[~free | (candidate.class_ids != reference.class_ids[index])] = 0.0
        best = int(np.argmax(overlaps)) if len(overlaps) else -1
        if best >= 0 and overlaps[best] >= MATCH_IOU:
            free[best] = False
            matched.append(float(overlaps[best]))
    return matched


def box_agreement(
    reference: Sequence[RawDetections], candidate: Sequence[RawDetections]
) -> tuple[float, float]:
    """(recall of the reference boxes, mean IoU of the matched ones) over paired frames.

    No reference box at all gives recall 1.0: there was nothing to lose (the caller makes sure
    the held-out frames show something).
    """
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference frames but {len(candidate)} candidate ones")
    total = sum(len(frame) for frame in reference)
    ious = [
        iou for ref, cand in zip(reference, candidate, strict=True) for iou in _matched(ref, cand)
    ]
    recall = len(ious) / total if total else 1.0
    return recall, float(np.mean(ious)) if ious else 0.0


def embedding_agreement(
    reference: Mapping[str, npt.NDArray[np.float32]],
    candidate: Mapping[str, npt.NDArray[np.float32]],
) -> float:
    """The mean per-crop cosine of each output, the lowest over the outputs."""
    if set(reference) != set(candidate):
        raise ValueError(f"outputs differ: {sorted(reference)} vs {sorted(candidate)}")
    return min(float(row_cosines(reference[n], candidate[n]).mean()) for n in reference)


def decide(metric: str, value: float, bound: float) -> ParityRecord:
    """The parity record of one INT8 engine against FP16: passed when the drop `value` stays
    within `bound` (a NaN never passes)."""
    passed = bool(np.isfinite(value)) and value <= bound
    return ParityRecord(metric=metric, reference="fp16", value=value, bound=bound, passed=passed)
