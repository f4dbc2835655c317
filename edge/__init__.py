"""The edge agent: video in; crops, track summaries and camera events out to the cloud.

One crop's way through the package: `sources` (frames) -> `detectors` (boxes) -> `tracking`
(`TrackUpdate`s) -> `pipelines.tracks.TrackLedger` (track ids, best views from `crops`, the
`records.Crop` and `records.TrackSummary`) -> `delivery` (`wire` turns records into protobuf,
`transport` spools and sends them). `app` builds and runs all of it from `config`; `geometry`
holds the box types every stage shares.
"""
