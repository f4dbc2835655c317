"""Detector backends: a preprocessed tensor in, detections out.

Public surface: the contract in `base` (`Detector`, `DetectorSettings`), `registry.create_detector`
to build the configured backend, `model.ModelSpec` (what a backend runs), and `fake.FakeDetector`
(scripted detections, no model) for unit tests and local development. The pure helpers every
backend shares (letterbox, NanoDet decode, NMS) live in `models.detection`, because the cloud
detects uploaded images with them too; `preprocess.Preprocessor` makes the input tensors and
`nanodet` holds the interface check and decode that the backends (`ort`, `trt`) share.
"""
