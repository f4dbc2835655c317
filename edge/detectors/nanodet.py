"""What every detector backend does around its runtime: check that a model has the NanoDet
interface the agent decodes, and decode its outputs into detections.

The runtimes differ (ONNX Runtime on the CPU, a TensorRT engine on the GPU) but feed the same
tensor in and read the same named outputs, so the interface check and the decode live here once
and the backends differ only in how they run the network (docs/architecture.md, "Backends").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from edge.detectors.base import DetectorSettings
from edge.detectors.model import ModelSpec
from models.detection import (
    NANODET_OUTPUT_NAMES,
    FloatArray,
    RawDetections,
    decode_nanodet,
    nanodet_levels,
)
from models.errors import ModelError

OUTPUT_NAMES = frozenset(name for pair in NANODET_OUTPUT_NAMES.values() for name in pair)
"""The outputs a detector model must have (scores and box logits per stride)."""


def check_interface(
    spec: ModelSpec,
    source: str,
    inputs: Mapping[str, Sequence[int | str | None]],
    outputs: Iterable[str],
) -> None:
    """Raise ModelError unless the network (`source` names it in the message) takes the
    manifest's input `[1, 3, height, width]` (a dynamic batch, shown as a name or None, is
    fine) and has the NanoDet outputs."""
    width, height = spec.input_size
    shape = list(inputs.get(spec.input_name) or [0])
    batch_ok = shape[0] == 1 or not isinstance(shape[0], int)
    if not batch_ok or shape[1:] != [3, height, width]:
        raise ModelError(
            f"{source}: inputs {dict(inputs)} do not match the manifest's "
            f"{spec.input_name} [1, 3, {height}, {width}]"
        )
    names = set(outputs)
    if not names >= OUTPUT_NAMES:
        raise ModelError(
            f"{source}: detectors decode NanoDet outputs {sorted(OUTPUT_NAMES)}, the model has "
            f"{sorted(names)}"
        )


def decode(
    outputs: Mapping[str, FloatArray], spec: ModelSpec, settings: DetectorSettings
) -> RawDetections:
    """Detections in model-input pixels, best first, from one frame's outputs by name."""
    scores, box_logits = nanodet_levels(outputs)
    return decode_nanodet(
        scores,
        box_logits,
        input_size=spec.input_size,
        score_threshold=settings.score_threshold,
        iou_threshold=settings.iou_threshold,
        max_detections=settings.max_detections,
        class_agnostic=settings.class_agnostic,
    )
