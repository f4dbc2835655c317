"""edge.deploy.swap: a new detector takes over between two frames; nothing skipped or split."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from edge.crops.selector import CropSettings
from edge.deploy.swap import LoadedModel, ModelSlot, Swap, swap_check
from edge.detectors.fake import FakeDetector, raw_detections
from edge.geometry import Box
from edge.pipelines.base import CameraSettings
from edge.pipelines.python import PythonPipeline
from edge.records import ModelRef
from edge.sources.base import SourceSettings
from edge.sources.fake import FakeSource, Sprite
from edge.tracking.bytetrack import ByteTrackSettings, ByteTrackTracker
from models.detection import RawDetections
from tests.edge.sinks import RecordingSink

FRAMES = 30
SWAP_AFTER = 10
PERSON = Sprite(Box(20, 60, 60, 160), velocity=(4, 0), color=(90, 160, 220))


def loaded(script: Iterator[RawDetections], version: str) -> LoadedModel:
    return LoadedModel(FakeDetector(script), ModelRef("fake", version), version * 64)


def person(index: int) -> RawDetections:
    box = PERSON.box(index)
    assert box is not None
    return raw_detections([(box, 0.9, 0)])


def test_an_offered_model_is_taken_at_the_next_frame_only() -> None:
    old, new = loaded(iter(()), "1"), loaded(iter(()), "2")
    slot = ModelSlot(old)
    assert slot.take(0) is old
    assert slot.offer(new) is None
    assert (slot.current, slot.wanted) == (old, new)
    assert not slot.wait_taken(new, 0.01)
    assert slot.take(1) is new
    assert slot.wait_taken(new, 0.01)
    assert slot.swaps() == [Swap(old, new, 1)]


def test_a_model_offered_over_an_untaken_one_hands_that_one_back_to_close() -> None:
    old, first, second = (loaded(iter(()), v) for v in "123")
    slot = ModelSlot(old)
    slot.offer(first)
    assert slot.offer(second) is first
    assert slot.take(0) is second


def test_the_pipeline_swaps_between_two_frames_and_keeps_its_tracks() -> None:
    slot_holder: list[ModelSlot] = []

    def new_script() -> Iterator[RawDetections]:
        for index in range(SWAP_AFTER + 1, FRAMES):
            yield person(index)

    new = loaded(new_script(), "2")

    def old_script() -> Iterator[RawDetections]:
        for index in range(FRAMES):
            if index == SWAP_AFTER:
                # The deployer offers while the camera is in the middle of this frame.
                slot_holder[0].offer(new)
            yield person(index)

    old = loaded(old_script(), "1")
    slot = ModelSlot(old)
    slot_holder.append(slot)
    sink = RecordingSink()
    camera = CameraSettings(id="cam-1", source=SourceSettings(url="synthetic"))
    pipeline = PythonPipeline(
        camera,
        source=FakeSource(frames=FRAMES, sprites=[PERSON]),
        detector=slot,
        tracker=ByteTrackTracker(ByteTrackSettings(), camera_id="cam-1"),
        crops=CropSettings(),
        sink=sink,
    )
    stats = pipeline.run(threading.Event())
    assert stats.frames == FRAMES
    assert stats.detections == FRAMES  # one person on every frame, none lost at the swap
    assert slot.swaps() == [Swap(old, new, SWAP_AFTER + 1)]
    assert isinstance(old.detector, FakeDetector) and old.detector.calls == SWAP_AFTER + 1
    assert isinstance(new.detector, FakeDetector)
    assert new.detector.calls == FRAMES - SWAP_AFTER - 1
    # The tracker carried on: one person, one track, across the swap.
    assert len([summary for summary in sink.tracks if summary.ended]) == 1


@pytest.mark.parametrize(
    ("camera_labels", "reason"),
    [((), None), (("person",), None), (("person", "unicorn"), "no class unicorn")],
)
def test_a_model_lacking_a_class_a_camera_keeps_cannot_replace_its_model(
    camera_labels: tuple[str, ...], reason: str | None
) -> None:
    found = swap_check(camera_labels, ("person", "car"))
    assert found == reason if reason is None else reason in (found or "")
