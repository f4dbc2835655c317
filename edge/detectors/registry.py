"""Detector backends by config `type`: `DetectorConfig` for the config schema, `create_detector`.

The registry is explicit (docs/architecture.md, "Backends"): a key maps to a "module:Class" string
that `pkgutil.resolve_name` imports on first use,
so the schema knows every key whether or not a backend's runtime is installed, and a backend's SDK
is imported only when that backend is built. Keys: `ort` (ONNX Runtime on the CPU) and `trt`
(a TensorRT engine on an NVIDIA GPU; its SDK comes from NVIDIA's base image).
"""

from __future__ import annotations

import pkgutil
from typing import Annotated, cast

from pydantic import Field

from edge.detectors.base import Detector, DetectorSettings
from edge.detectors.ort import OrtSettings
from edge.detectors.trt import TrtSettings

DetectorConfig = Annotated[OrtSettings | TrtSettings, Field(discriminator="type")]
"""Any backend's settings, told apart by `type`."""

DETECTORS: dict[str, str] = {
    "ort": "edge.detectors.ort:OrtDetector",
    "trt": "edge.detectors.trt:TrtDetector",
}


def create_detector(settings: DetectorSettings) -> Detector:
    """Build the detector that `settings.type` names (loading and verifying its model).

    Raises ModelError or BackendUnavailable, as `Detector` construction does.
    """
    backend = pkgutil.resolve_name(DETECTORS[settings.type])
    return cast(Detector, backend(settings))
