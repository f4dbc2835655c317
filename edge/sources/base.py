"""The video source contract: settings, the `Frame` it yields and the `VideoSource` protocol."""

from __future__ import annotations

import enum
import re
import threading
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sightline.backoff import BackoffSettings

Image = npt.NDArray[np.uint8]

_STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
_RTSP_SCHEMES = ("rtsp://", "rtsps://")
_USB = re.compile(r"^(?:usb:|/dev/video)(\d+)$")


class SourceKind(enum.Enum):
    """How a source behaves at its end: a file or folder ends, a live source reconnects."""

    FILE = "file"
    FOLDER = "folder"
    STREAM = "stream"
    USB = "usb"


class SourceSettings(BaseModel):
    """Where a camera's video comes from and how hard to try to keep it flowing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(
        min_length=1,
        description="A video file path; a folder of images (read in name order, one frame each, "
        "image_interval_s apart); an rtsp://, rtsps://, http:// or https:// stream URL "
        "(user:password@ in it is accepted and never logged); or usb:<index> (or /dev/video<N>) "
        "for a local camera.",
    )
    image_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="Image folders: seconds of stream time between consecutive images (a folder "
        "has no frame rate of its own; fps then samples them like a video's frames).",
    )
    fps: float | None = Field(
        default=5.0,
        gt=0,
        description="Frames per second to run detection on; frames in between are decoded and "
        "skipped. null processes every frame.",
    )
    realtime: bool = Field(
        default=False,
        description="Video files and image folders: deliver frames at the video's own rate (a "
        "folder's image_interval_s), as a camera would, so capture times are real wall-clock "
        "times (for latency measurements); false reads as fast as it decodes.",
    )
    transport: Literal["tcp", "udp"] = Field(
        default="tcp",
        description="RTSP streams: carry the video inside the RTSP connection (tcp: passes "
        "firewalls and NAT, loses nothing) or as separate UDP packets (udp: a little less "
        "latency on a clean LAN; a lost packet shows as a damaged frame).",
    )
    reconnect: BackoffSettings = Field(
        default=BackoffSettings(initial_s=1.0, max_s=30.0),
        description="Live sources: waits between reconnection attempts (jittered, doubling from "
        "initial_s up to max_s).",
    )
    reconnect_attempts: int | None = Field(
        default=None,
        ge=0,
        description="Live sources: failed attempts in a row after which the camera gives up with "
        "an error (camera.failed; the other cameras go on); null, the default, retries forever, "
        "as a camera that comes back should be picked up again without a restart.",
    )
    open_timeout_s: float = Field(
        default=10.0, gt=0, description="Streams: give up opening a connection after this long."
    )
    read_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Streams: a connection that delivers nothing for this long counts as lost "
        "and is reopened (the camera's watchdog). A closed connection is noticed at once; a "
        "silent one after about three times this (OpenCV's FFmpeg reader retries a timed-out "
        "read twice, measured on a frozen RTSP server).",
    )

    @model_validator(mode="after")
    def _realtime_only_for_files(self) -> SourceSettings:
        if self.realtime and self.kind not in (SourceKind.FILE, SourceKind.FOLDER):
            raise ValueError(
                "realtime applies to video files and image folders only; live sources are real time"
            )
        if self.transport != "tcp" and not self.url.lower().startswith(_RTSP_SCHEMES):
            raise ValueError("transport applies to rtsp:// and rtsps:// streams only")
        return self

    @property
    def kind(self) -> SourceKind:
        """File, folder, stream or USB camera, read from the form of `url` (a folder: an
        existing directory)."""
        if self.url.lower().startswith(_STREAM_SCHEMES):
            return SourceKind.STREAM
        if _USB.match(self.url):
            return SourceKind.USB
        if Path(self.url).is_dir():
            return SourceKind.FOLDER
        return SourceKind.FILE

    @property
    def live(self) -> bool:
        """A stream or USB camera: frames come at the camera's pace and cannot be waited for
        (files and image folders can)."""
        return self.kind in (SourceKind.STREAM, SourceKind.USB)

    def file_identity(self) -> FileIdentity | None:
        """The identity of the video file or image folder `url` names; None for a live source
        or a path that cannot be read (the source reports that when it runs). A folder's size
        is its number of images and its time the newest image's: adding, removing or
        rewriting an image makes it another recording, read from its start."""
        kind = self.kind
        path = Path(self.url)
        try:
            if kind is SourceKind.FOLDER:
                images = folder_images(path)
                newest = max((image.stat().st_mtime_ns for image in images), default=0)
                return FileIdentity(str(path.resolve()), len(images), newest)
            if kind is SourceKind.FILE:
                stat = path.stat()
                return FileIdentity(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        except OSError:
            return None
        return None

    @property
    def usb_index(self) -> int:
        """The camera index of a `usb:<index>` or `/dev/video<N>` URL."""
        match = _USB.match(self.url)
        if match is None:
            raise ValueError(f"{self.url!r} is not a USB camera")
        return int(match.group(1))


IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
"""Files an image folder source reads (case-insensitive); anything else in it is ignored."""


def folder_images(folder: Path) -> list[Path]:
    """The images of `folder` in name order (raises OSError when it cannot be listed)."""
    return sorted(
        entry
        for entry in folder.iterdir()
        if entry.suffix.lower() in IMAGE_SUFFIXES and entry.is_file()
    )


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """Which file a position in a video refers to: the same path, size and modification time
    mean the same recording (`edge.journal` resumes there; anything else starts over)."""

    path: str
    """Absolute, symbolic links resolved."""
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame that survived sampling."""

    image: Image
    """BGR, height x width x 3. Valid until the next frame is requested: sources decode into one
    reused buffer, so a consumer that keeps pixels must copy them."""
    index: int
    """Position in decode order from 0, counting skipped frames too."""
    timestamp: float
    """Seconds since the source started: the stream position for files, time since the first
    connection for live sources (monotonic, so it never goes back across reconnects)."""


Frames = Generator[Frame, None, None]
"""What `VideoSource.frames` returns: an iterator that can be closed early."""


class SourceStatus(enum.Enum):
    """Connection changes a live source reports (files only ever connect once)."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class VideoSource(Protocol):
    """A camera's frames, sampled to the configured rate.

    Errors: `edge.errors.SourceError` with a message fit for an operator (never containing
    credentials) when a file cannot be opened or is truncated/corrupt, or when a live source stays
    unreachable for its whole reconnection budget. The end of a file is not an error.

    Thread-safety: none; one source belongs to one camera thread.
    """

    @property
    def started_at(self) -> datetime:
        """UTC wall-clock time of timestamp 0 (valid once `frames` has started)."""

    def frames(self, stop: threading.Event) -> Frames:
        """Yield sampled frames until the file ends or `stop` is set; release the device after.

        Close the iterator (or exhaust it) to release the capture early.
        """
