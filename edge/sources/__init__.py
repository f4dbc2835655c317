"""Video sources: frames in decode order from a file, an image folder, an RTSP/HTTP stream or a
USB camera.

Public surface: `base` (`SourceSettings`, `Frame`, `VideoSource`), `registry.open_source` (the
reader for a camera's settings), `capture.CaptureSource` (files, streams and USB cameras,
through OpenCV's `VideoCapture`, with `ffmpeg_options` for per-camera FFmpeg options such as RTSP
over TCP or UDP), `folder.ImageFolderSource` (a folder of images), `fake.FakeSource`
(deterministic synthetic frames, for unit tests and local development), and the pure
`sampling.FrameSampler` that thins a stream to a target frame rate.
"""
