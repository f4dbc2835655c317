"""`ImageFolderSource`: a folder of still images as a camera, one frame per image in name order.

For snapshots that cameras drop over FTP, frames extracted from a recording, or a test set. Image
`i` (0-based, in name order, among the files with an `IMAGE_SUFFIXES` suffix) is frame `i` at
stream time `i * image_interval_s`; `fps` samples those frames like a video's, and `realtime`
paces them (`pacing.Pacer`). The images are listed once, when reading starts: images added later
belong to the next run (the folder is then another recording to the journal, see
`SourceSettings.file_identity`). A restarted agent resumes after the last image whose records
were handed on, as with a video file.

Errors, as for a video file: a missing folder, a folder without images, or an image that cannot
be decoded (its name in the message) raise `SourceError`, which ends this camera alone.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from edge.errors import SourceError
from edge.sources.base import Frame, Frames, SourceSettings, folder_images
from edge.sources.pacing import Pacer
from edge.sources.sampling import FrameSampler

logger = logging.getLogger(__name__)


class ImageFolderSource:
    """A `VideoSource` over a folder of images; see the module docstring."""

    def __init__(
        self, settings: SourceSettings, *, camera_id: str, resume_after: int | None = None
    ) -> None:
        """`resume_after` is the index of an image processed before; reading starts at the
        next one."""
        self._settings = settings
        self._folder = Path(settings.url)
        self._camera_id = camera_id
        self._start = 0 if resume_after is None else resume_after + 1
        self._started_at = datetime.now(UTC)
        self._log_extra = {"camera_id": camera_id}

    @property
    def started_at(self) -> datetime:
        """UTC wall-clock time of timestamp 0."""
        return self._started_at

    def frames(self, stop: threading.Event) -> Frames:
        """Yield the sampled images until the last one or `stop` (see `VideoSource`)."""
        images = self._images()
        interval = self._settings.image_interval_s
        sampler = FrameSampler(self._settings.fps)
        # Replaying the sampler over the images skipped on a resume keeps the frames it keeps
        # those of an uninterrupted read; timestamps are index * interval, so it costs nothing.
        for skipped in range(min(self._start, len(images))):
            sampler.keep(skipped * interval)
        first_timestamp = self._start * interval
        self._started_at = datetime.now(UTC) - timedelta(seconds=first_timestamp)
        pacer = Pacer(first_timestamp) if self._settings.realtime else None
        logger.info(
            "camera %s: opened image folder %s (%d images, %.3g s apart), reading from image %d",
            self._camera_id, self._folder, len(images), interval, self._start,
            extra=self._log_extra,
        )  # fmt: skip
        for index in range(self._start, len(images)):
            timestamp = index * interval
            if stop.is_set():
                return
            if not sampler.keep(timestamp):
                continue
            image = cv2.imread(str(images[index]), cv2.IMREAD_COLOR)
            if image is None:
                raise SourceError(
                    f"camera {self._camera_id}: image {images[index].name} in {self._folder} "
                    "cannot be decoded; the file is corrupt or not an image"
                )
            if pacer is not None and not pacer.wait(timestamp, stop):
                return
            yield Frame(np.asarray(image, dtype=np.uint8), index, timestamp)
        logger.info(
            "camera %s: end of image folder %s after %d images", self._camera_id, self._folder,
            len(images), extra=self._log_extra,
        )  # fmt: skip

    def _images(self) -> list[Path]:
        try:
            images = folder_images(self._folder)
        except OSError as err:
            raise SourceError(
                f"camera {self._camera_id}: cannot read image folder {self._folder}: "
                f"{err.strerror or err}"
            ) from err
        if not images:
            raise SourceError(
                f"camera {self._camera_id}: image folder {self._folder} holds no image "
                "(.jpg, .png, .bmp, .webp or .tif)"
            )
        return images
