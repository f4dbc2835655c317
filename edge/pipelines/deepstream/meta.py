"""NvDs metadata in and out, the way NVIDIA's deepstream_python_apps walk it, with the pyds
module passed in (so the walk runs against stand-ins of the same shape in tests).

Out of DeepStream, into the agent's own types: `batch_frames` (NvDsBatchMeta -> NvDsFrameMeta),
`tensor_outputs` (nvinfer's output tensors of one frame, as numpy arrays by layer name) and
`read_frame` (the tracked objects of one frame as `FrameObjects`). Into DeepStream:
`add_detections` (our decoded detections as NvDsObjectMeta, for nvtracker). Nothing returned
here holds a pyds object: the pyds memory belongs to the GStreamer buffer and is gone once the
probe returns.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.detectors.base import DetectorSettings
from edge.detectors.model import ModelSpec
from edge.detectors.nanodet import decode
from edge.geometry import Box
from edge.pipelines.deepstream.nvinfer import GIE_UNIQUE_ID
from models.detection import Detection, FloatArray, LetterboxTransform, to_detections

UNTRACKED_OBJECT_ID = 0xFFFFFFFFFFFFFFFF
"""NvDsObjectMeta.object_id of an object no tracker has taken on."""
FLOAT = 0
"""NvDsInferDataType.FLOAT: the only output layer type the NanoDet decode reads."""


@dataclass(frozen=True, slots=True)
class TrackedObject:
    """One object nvtracker reported on a frame, in muxer pixels."""

    object_id: int
    """nvtracker's id (unique per stream, 64 bits)."""
    class_id: int
    label: str
    box: Box
    score: float
    """Detector confidence of the detection nvtracker matched it to."""
    tracker_confidence: float


@dataclass(frozen=True, slots=True)
class FrameObjects:
    """The tracked objects of one frame of one camera."""

    source_id: int
    """nvstreammux sink pad index: the camera's position in the config."""
    batch_id: int
    """The frame's index in the batch (for reading its pixels)."""
    frame_num: int
    pts_ns: int
    objects: tuple[TrackedObject, ...]


def glist(node: Any) -> Iterator[Any]:
    """The `data` of each node of a pyds GList, as the samples walk it (a `StopIteration` from
    `next` also ends it)."""
    while node is not None:
        yield node.data
        try:
            node = node.next
        except StopIteration:
            return


def batch_frames(pyds: Any, batch_meta: Any) -> Iterator[Any]:
    """The NvDsFrameMeta of each frame in a batch."""
    for data in glist(batch_meta.frame_meta_list):
        yield pyds.NvDsFrameMeta.cast(data)


def tensor_outputs(pyds: Any, frame_meta: Any) -> dict[str, FloatArray] | None:
    """nvinfer's output tensors of one frame by layer name (copies, without the batch axis),
    or None when the frame carries none (nvinfer skipped it). Raises ValueError for a layer
    that is not float32."""
    for data in glist(frame_meta.frame_user_meta_list):
        user_meta = pyds.NvDsUserMeta.cast(data)
        if user_meta.base_meta.meta_type != pyds.NvDsMetaType.NVDSINFER_TENSOR_OUTPUT_META:
            continue
        tensor_meta = pyds.NvDsInferTensorMeta.cast(user_meta.user_meta_data)
        outputs: dict[str, FloatArray] = {}
        for index in range(tensor_meta.num_output_layers):
            layer = pyds.get_nvds_LayerInfo(tensor_meta, index)
            if layer.dataType != FLOAT:
                raise ValueError(f"output {layer.layerName} is not float32 ({layer.dataType})")
            dims = tuple(int(d) for d in layer.inferDims.d[: layer.inferDims.numDims])
            pointer = ctypes.cast(pyds.get_ptr(layer.buffer), ctypes.POINTER(ctypes.c_float))
            outputs[layer.layerName] = np.ctypeslib.as_array(pointer, shape=dims).copy()
        return outputs
    return None


def add_detections(
    pyds: Any, batch_meta: Any, frame_meta: Any, detections: Sequence[Detection]
) -> None:
    """Attach `detections` (muxer pixels) to a frame as untracked NvDsObjectMeta, for nvtracker
    to take on (the deepstream-ssd-parser sample's way)."""
    for detection in detections:
        obj = pyds.nvds_acquire_obj_meta_from_pool(batch_meta)
        left, top = detection.x1, detection.y1
        width, height = detection.x2 - detection.x1, detection.y2 - detection.y1
        for rect in (obj.rect_params, obj.detector_bbox_info.org_bbox_coords):
            rect.left, rect.top, rect.width, rect.height = left, top, width, height
        obj.confidence = detection.score
        obj.class_id = detection.class_id
        obj.obj_label = detection.label
        obj.object_id = UNTRACKED_OBJECT_ID
        obj.unique_component_id = GIE_UNIQUE_ID
        pyds.nvds_add_obj_meta_to_frame(frame_meta, obj, None)


def attach_detections(
    pyds: Any,
    batch_meta: Any,
    spec: ModelSpec,
    settings: DetectorSettings,
    transform: LetterboxTransform,
) -> int:
    """The body of the probe after nvinfer: decode each frame's output tensors with the NanoDet
    decode every detector backend uses, map them from nvinfer's letterbox (`transform`, model
    input -> muxer frame) and attach them for nvtracker. Returns the detections attached."""
    attached = 0
    for frame_meta in batch_frames(pyds, batch_meta):
        outputs = tensor_outputs(pyds, frame_meta)
        if outputs is None:
            continue
        detections = to_detections(decode(outputs, spec, settings), transform, spec.labels)
        add_detections(pyds, batch_meta, frame_meta, detections)
        attached += len(detections)
    return attached


def read_frame(pyds: Any, frame_meta: Any) -> FrameObjects:
    """The objects nvtracker tracks on one frame; untracked ones (probation) are left out."""
    objects = []
    for data in glist(frame_meta.obj_meta_list):
        obj = pyds.NvDsObjectMeta.cast(data)
        if obj.object_id == UNTRACKED_OBJECT_ID:
            continue
        rect = obj.rect_params
        objects.append(
            TrackedObject(
                object_id=int(obj.object_id),
                class_id=int(obj.class_id),
                label=str(obj.obj_label),
                box=Box(
                    float(rect.left),
                    float(rect.top),
                    float(rect.left + rect.width),
                    float(rect.top + rect.height),
                ),
                score=float(obj.confidence),
                tracker_confidence=float(obj.tracker_confidence),
            )
        )
    return FrameObjects(
        source_id=int(frame_meta.pad_index),
        batch_id=int(frame_meta.batch_id),
        frame_num=int(frame_meta.frame_num),
        pts_ns=int(frame_meta.buf_pts),
        objects=tuple(objects),
    )
