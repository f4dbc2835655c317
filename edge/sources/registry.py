"""The source for a camera's settings: `open_source` picks the reader by the kind of `url`.

Image folders are read by `folder.ImageFolderSource`; video files, streams and USB cameras by
`capture.CaptureSource` (OpenCV's `VideoCapture`, whose FFmpeg and V4L2 backends cover them).
"""

from __future__ import annotations

from edge.sources.base import SourceKind, SourceSettings, VideoSource
from edge.sources.capture import CaptureSource, StatusCallback
from edge.sources.folder import ImageFolderSource


def open_source(
    settings: SourceSettings,
    *,
    camera_id: str,
    on_status: StatusCallback | None = None,
    resume_after: int | None = None,
) -> VideoSource:
    """The source reading `settings.url`; `on_status` hears a live source's connects and
    disconnects, `resume_after` (files and folders) is the last frame processed before."""
    if settings.kind is SourceKind.FOLDER:
        return ImageFolderSource(settings, camera_id=camera_id, resume_after=resume_after)
    return CaptureSource(
        settings, camera_id=camera_id, on_status=on_status, resume_after=resume_after
    )
