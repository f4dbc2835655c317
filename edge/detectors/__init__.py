"""Detector backends: a preprocessed tensor in, detections out.

Public surface: the contract in `base` (`Detector`, `DetectorSettings`), `registry.create_detector`
to build the configured backend, `model.ModelSpec` (what a backend runs), and `fake.FakeDetector`
(scripted detections, no model) for unit tests and local development. `postprocess` holds the pure
helpers every backend shares (letterbox, NanoDet decode, NMS); `preprocess.Preprocessor` makes
the input tensors.
"""
