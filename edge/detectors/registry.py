"""Detector backends by config `type`: `DetectorConfig` for the config schema, `create_detector`.

The registry is explicit (docs/architecture.md, "Backends"): a key maps to a "module:Class" string
that `pkgutil.resolve_name` imports on first use,
so the schema knows every key whether or not a backend's runtime is installed, and a backend's SDK
is imported only when that backend is built. Keys: `ort` (ONNX Runtime on the CPU).

A TensorRT backend (`trt`) joins this table together with its engine runner; until then the key
is not accepted, rather than accepted and failing at startup.
"""

from __future__ import annotations

import pkgutil
from typing import cast

from edge.detectors.base import Detector, DetectorSettings
from edge.detectors.ort import OrtSettings

# Becomes `Annotated[OrtSettings | TrtSettings, Field(discriminator="type")]` with a second
# backend; `type` is already the discriminator.
DetectorConfig = OrtSettings

DETECTORS: dict[str, str] = {
    "ort": "edge.detectors.ort:OrtDetector",
}


def create_detector(settings: DetectorSettings) -> Detector:
    """Build the detector that `settings.type` names (loading and verifying its model).

    Raises ModelError or BackendUnavailable, as `Detector` construction does.
    """
    backend = pkgutil.resolve_name(DETECTORS[settings.type])
    return cast(Detector, backend(settings))
