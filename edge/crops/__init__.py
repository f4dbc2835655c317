"""Best-crop selection per track: which views of a track to send to the cloud, cut and encoded.

Public surface: `selector.BestCrops` (the best views of one track, handed over when due) with
`selector.CropSettings` and its `Candidate`s; the pure helpers in `scoring` (crop quality) and
`image` (padding, cutting, JPEG encoding). `edge.pipelines.tracks.TrackLedger` turns the
candidates into `edge.records.Crop`s.
"""
