"""Swapping a camera's detector between two frames: `ModelSlot` and `LoadedModel`.

The deployer (`edge.deploy.agent`) prepares and warms up a new model on its own thread while
the camera keeps running the old one, then `offer`s it to the camera's slot. The camera's
thread calls `take` before each frame and uses what it returns for that whole frame, so the
swap lands exactly between two frames: none is skipped, none runs half on each model, and the
old detector is no longer in use once `take` has returned the new one (the deployer may then
close it). `swap_check` is the pure decision of whether a prepared model may replace the one
running on a camera at all.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from edge.detectors.base import Detector
from edge.records import ModelRef


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A detector ready to run, and what it is. Compared by identity: each load is its own."""

    detector: Detector
    ref: ModelRef
    sha256: str


@dataclass(frozen=True, slots=True)
class Swap:
    """A swap that happened: the camera ran `previous` up to frame `frame_index - 1` and `model`
    from `frame_index` on."""

    previous: LoadedModel
    model: LoadedModel
    frame_index: int


class ModelSlot:
    """One camera's current detector and the one offered to replace it. Thread-safe."""

    def __init__(self, model: LoadedModel) -> None:
        self._changed = threading.Condition()
        self._current = model
        self._offered: LoadedModel | None = None
        self._swaps: list[Swap] = []

    @property
    def current(self) -> LoadedModel:
        """The model the camera runs (or will run on its next frame if nothing is offered)."""
        with self._changed:
            return self._current

    @property
    def wanted(self) -> LoadedModel:
        """The model offered if any, else the current one."""
        with self._changed:
            return self._offered or self._current

    def offer(self, model: LoadedModel) -> LoadedModel | None:
        """Have the camera run `model` from its next frame on. Returns a model offered before
        and not taken (now never taken: the caller may close it), or None."""
        with self._changed:
            replaced, self._offered = self._offered, model
            return replaced if replaced is not model else None

    def take(self, frame_index: int) -> LoadedModel:
        """The model to run frame `frame_index` with; swaps in an offered one (camera thread)."""
        with self._changed:
            if self._offered is not None:
                swap = Swap(self._current, self._offered, frame_index)
                self._swaps.append(swap)
                self._current, self._offered = self._offered, None
                self._changed.notify_all()
            return self._current

    def wait_taken(self, model: LoadedModel, timeout: float) -> bool:
        """Wait until the camera runs `model` (True) or `timeout` passes (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._current is model, timeout)

    def swaps(self) -> list[Swap]:
        """Every swap so far, oldest first."""
        with self._changed:
            return list(self._swaps)


def swap_check(camera_labels: Sequence[str], model_labels: Sequence[str]) -> str | None:
    """Why a model with `model_labels` cannot run on a camera that keeps `camera_labels`
    (None: it can). A camera configured for classes the new model lacks would lose them."""
    missing = sorted(set(camera_labels) - set(model_labels))
    if missing:
        return f"the model has no class {', '.join(missing)}, which the camera keeps"
    return None
