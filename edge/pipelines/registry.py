"""Pipeline backends by config `type`: `PipelineConfig` for the config schema, `PIPELINES`.

Explicit, like the detector registry (docs/architecture.md, "Backends"): `python` (decode,
detector and tracker in this process, one `PythonPipeline` per camera) and `deepstream` (one
`DeepStreamPipeline` for every camera, on NVIDIA's DeepStream; `gi` and `pyds` are imported only
when it runs). The two are built differently (per camera, or once for all cameras), so the app
picks the constructor by type rather than through one factory.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from edge.pipelines.deepstream.settings import DeepStreamSettings
from edge.pipelines.python import PythonPipelineSettings

PipelineConfig = Annotated[PythonPipelineSettings | DeepStreamSettings, Field(discriminator="type")]
"""Any pipeline backend's settings, told apart by `type`."""

PIPELINES: dict[str, str] = {
    "python": "edge.pipelines.python:PythonPipeline",
    "deepstream": "edge.pipelines.deepstream.pipeline:DeepStreamPipeline",
}
