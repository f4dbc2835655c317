"""Image folder sources on real `vtest.avi` frames written as JPEG and PNG files."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.errors import SourceError
from edge.sources.base import Frame, SourceKind, SourceSettings
from edge.sources.folder import ImageFolderSource
from edge.sources.registry import open_source
from tests.footage.clips import image_folder


def read_all(source: ImageFolderSource) -> list[Frame]:
    # Folder frames own their pixels, so they can be kept as they come.
    return list(source.frames(threading.Event()))


def folder_source(folder: Path, **settings: object) -> ImageFolderSource:
    return ImageFolderSource(
        SourceSettings.model_validate({"url": str(folder), "fps": None, **settings}),
        camera_id="snapshots",
    )


def test_a_folder_yields_its_images_in_name_order_one_frame_each(tmp_path: Path) -> None:
    paths = image_folder(tmp_path / "in", 6)
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    (tmp_path / "in" / "sub.png").mkdir()  # a folder named like an image is not one
    frames = read_all(folder_source(tmp_path / "in", image_interval_s=0.5))
    assert [frame.index for frame in frames] == list(range(6))
    assert [frame.timestamp for frame in frames] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    for frame, path in zip(frames, paths, strict=True):
        assert np.array_equal(frame.image, cv2.imread(str(path)))


def test_the_folder_kind_is_told_from_the_path_and_opened_by_the_registry(tmp_path: Path) -> None:
    image_folder(tmp_path / "in", 1)
    settings = SourceSettings(url=str(tmp_path / "in"))
    assert settings.kind is SourceKind.FOLDER
    assert isinstance(open_source(settings, camera_id="c"), ImageFolderSource)
    assert SourceSettings(url=str(tmp_path / "in" / "img-000.png.avi")).kind is SourceKind.FILE


def test_fps_samples_a_folder_like_a_video(tmp_path: Path) -> None:
    image_folder(tmp_path / "in", 10)
    frames = read_all(folder_source(tmp_path / "in", image_interval_s=0.1, fps=5))
    assert [frame.index for frame in frames] == [0, 2, 4, 6, 8]


def test_a_resumed_folder_goes_on_after_the_last_image_processed(tmp_path: Path) -> None:
    image_folder(tmp_path / "in", 10)
    settings = SourceSettings(url=str(tmp_path / "in"), fps=5, image_interval_s=0.1)
    whole = read_all(ImageFolderSource(settings, camera_id="c"))
    resumed = read_all(ImageFolderSource(settings, camera_id="c", resume_after=4))
    assert [f.index for f in resumed] == [f.index for f in whole if f.index > 4] == [6, 8]
    assert [f.timestamp for f in resumed] == pytest.approx([0.6, 0.8])


def test_a_folder_changes_identity_when_an_image_is_added(tmp_path: Path) -> None:
    image_folder(tmp_path / "in", 3)
    settings = SourceSettings(url=str(tmp_path / "in"))
    before = settings.file_identity()
    assert before is not None and before.size == 3
    image_folder(tmp_path / "in", 1, start=3)
    assert settings.file_identity() != before


def test_a_corrupt_image_is_a_source_error_naming_it_after_the_images_before_it(
    tmp_path: Path,
) -> None:
    image_folder(tmp_path / "in", 3)
    (tmp_path / "in" / "img-001.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    frames = folder_source(tmp_path / "in").frames(threading.Event())
    assert next(frames).index == 0
    with pytest.raises(SourceError, match=r"image img-001\.png in .* cannot be decoded"):
        next(frames)


def test_a_folder_without_images_is_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(SourceError, match="holds no image"):
        read_all(folder_source(tmp_path / "empty"))


def test_the_stop_event_ends_a_folder_early(tmp_path: Path) -> None:
    image_folder(tmp_path / "in", 5)
    stop = threading.Event()
    seen = []
    for frame in folder_source(tmp_path / "in").frames(stop):
        seen.append(frame.index)
        stop.set()
    assert seen == [0]
