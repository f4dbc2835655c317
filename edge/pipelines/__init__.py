"""Pipelines: a camera's video in; crops, track summaries and camera events out.

Public surface: the contract in `base` (`CameraSettings`, `PipelineSink`, `PipelineStats`) and
`python.PythonPipeline` (decode, detector, tracker and crop selection in this process). The
records a pipeline emits (`Crop`, `TrackSummary`, `CameraEvent`) are in `edge.records`. A
DeepStream pipeline, which owns decode, inference and tracking itself, would emit the same records.
"""
