"""Stand-ins for pyds's metadata objects and functions, with the attributes and call shapes the
DeepStream pipeline uses (DeepStream 7.1 Python bindings), so that its metadata code runs here."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np


@dataclass
class GList:
    """A node of a GList as pyds exposes it: `data` and `next` (None at the end)."""

    data: Any
    next: GList | None = None


def glist_of(items: list[Any]) -> GList | None:
    head = None
    for item in reversed(items):
        head = GList(item, head)
    return head


@dataclass
class ObjectMeta:
    """NvDsObjectMeta's fields that the agent reads and writes."""

    rect_params: SimpleNamespace = field(default_factory=SimpleNamespace)
    detector_bbox_info: SimpleNamespace = field(
        default_factory=lambda: SimpleNamespace(org_bbox_coords=SimpleNamespace())
    )
    confidence: float = 0.0
    tracker_confidence: float = 0.0
    class_id: int = 0
    obj_label: str = ""
    object_id: int = 0
    unique_component_id: int = 0


@dataclass
class FrameMeta:
    """NvDsFrameMeta's fields that the agent reads."""

    pad_index: int = 0
    batch_id: int = 0
    frame_num: int = 0
    buf_pts: int = 0
    obj_meta_list: GList | None = None
    frame_user_meta_list: GList | None = None
    added: list[ObjectMeta] = field(default_factory=list)


def layer(name: str, array: np.ndarray) -> SimpleNamespace:
    """NvDsInferLayerInfo: a name, a data type, dims without the batch and a host buffer."""
    dims = list(array.shape) + [0] * (8 - array.ndim)
    return SimpleNamespace(
        layerName=name,
        dataType=0,
        inferDims=SimpleNamespace(numDims=array.ndim, d=dims),
        buffer=np.ascontiguousarray(array, dtype=np.float32),
    )


def tensor_user_meta(layers: list[SimpleNamespace]) -> SimpleNamespace:
    return SimpleNamespace(
        base_meta=SimpleNamespace(meta_type="NVDSINFER_TENSOR_OUTPUT_META"),
        user_meta_data=SimpleNamespace(num_output_layers=len(layers), layers=layers),
    )


def identity(data: Any) -> Any:
    return data


PYDS = SimpleNamespace(
    NvDsFrameMeta=SimpleNamespace(cast=identity),
    NvDsObjectMeta=SimpleNamespace(cast=identity),
    NvDsUserMeta=SimpleNamespace(cast=identity),
    NvDsInferTensorMeta=SimpleNamespace(cast=identity),
    NvDsMetaType=SimpleNamespace(NVDSINFER_TENSOR_OUTPUT_META="NVDSINFER_TENSOR_OUTPUT_META"),
    get_nvds_LayerInfo=lambda meta, index: meta.layers[index],
    get_ptr=lambda buffer: buffer.ctypes.data,
    nvds_acquire_obj_meta_from_pool=lambda batch_meta: ObjectMeta(),
    nvds_add_obj_meta_to_frame=lambda frame_meta, obj, parent: frame_meta.added.append(obj),
)


BATCHES: dict[int, Any] = {}
"""NvDsBatchMeta by the address of the GstBuffer that carries it (`hash(buffer)`)."""
SURFACES: dict[tuple[int, int], np.ndarray] = {}
"""RGBA frames by (buffer address, batch id), as `get_nvds_buf_surface` maps them."""


def pyds_module() -> ModuleType:
    """A `pyds` stand-in: the metadata casts and pool functions above plus buffer access."""
    module = ModuleType("pyds")
    module.__dict__.update(vars(PYDS))
    module.__dict__.update(
        gst_buffer_get_nvds_batch_meta=BATCHES.__getitem__,
        get_nvds_buf_surface=lambda address, batch_id: SURFACES[(address, batch_id)],
        unmap_nvds_buf_surface=lambda address, batch_id: None,
    )
    return module
