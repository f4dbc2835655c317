"""Video sources: frames in decode order from a file, an RTSP/HTTP stream or a USB camera.

Public surface: `base` (`SourceSettings`, `Frame`, `VideoSource`), `capture.CaptureSource` (every
kind, through OpenCV's `VideoCapture`, with `ffmpeg_options` for per-camera FFmpeg
options such as RTSP over TCP or UDP), `fake.FakeSource` (deterministic synthetic frames, for unit
tests and local development), and the pure `sampling.FrameSampler` that thins a stream to a target
frame rate.
"""
