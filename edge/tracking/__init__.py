"""Multi-object tracking per camera: detections in, `TrackUpdate`s out.

Public surface: the contract in `base` (`Tracker`, `TrackUpdate`, `TrackState`, `DetectionLike`),
and `registry.create_tracker(settings)` to build the configured backend. Boxes are
`edge.geometry.Box`.
"""
