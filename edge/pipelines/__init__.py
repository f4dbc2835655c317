"""Pipelines: a camera's video in; crops, track summaries and camera events out.

Public surface: the contract in `base` (`CameraSettings`, `PipelineSink`, `PipelineStats`);
`tracks.TrackLedger`, the per-track state every pipeline backend feeds its `TrackUpdate`s to (track
ids, first/last seen, best crops, summaries); and `python.PythonPipeline` (decode, detector and
tracker in this process, then the ledger). The records a pipeline emits (`Crop`, `TrackSummary`,
`CameraEvent`) are in `edge.records`. `deepstream.pipeline.DeepStreamPipeline` owns decode,
inference and tracking itself (on the GPU) and feeds the same ledger, so it emits the same
records; `registry` lists both by config `type`.
"""
