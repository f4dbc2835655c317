"""The rules that keep one track on one person, on painted frames: colour refuses or ranks a
match, and a lost track that walked out of the frame ends there."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.tracking.base import TrackState, TrackUpdate
from edge.tracking.bytetrack import ByteTrackTracker
from tests.edge.tracking.test_bytetrack import FPS, Det, tracker

HEIGHT, WIDTH = 480, 640
GREY = (128, 128, 128)
RED, BLUE, GREEN, YELLOW = (30, 30, 200), (200, 60, 30), (40, 180, 40), (30, 200, 220)  # BGR
Colour = tuple[int, int, int]
Box = tuple[float, float, float, float]


def painted(people: Sequence[tuple[Box, Colour, Colour]]) -> np.ndarray:
    """A grey frame with each person's box painted shirt over trousers, later ones in front."""
    image = np.full((HEIGHT, WIDTH, 3), GREY, dtype=np.uint8)
    for (x1, y1, x2, y2), shirt, trousers in people:
        middle = int((y1 + y2) / 2)
        image[int(y1) : middle, int(x1) : int(x2)] = shirt
        image[middle : int(y2), int(x1) : int(x2)] = trousers
    return image


def step(
    track: ByteTrackTracker,
    frame: int,
    people: Sequence[tuple[Box, Colour, Colour]],
    *,
    with_image: bool = True,
) -> list[TrackUpdate]:
    dets = [Det(*box) for box, _, _ in people]
    image = painted(people) if with_image else None
    return track.update(dets, frame, frame / FPS, image)


def numbers(updates: list[TrackUpdate]) -> set[int]:
    return {u.track_number for u in updates if u.state in (TrackState.NEW, TrackState.UPDATED)}


def walk(x: float, frame: int) -> Box:
    return (x + 4.0 * frame, 150.0, x + 4.0 * frame + 50.0, 300.0)


def stand_in_for_the_lost(with_image: bool, **settings: float | None) -> set[int]:
    """Person A (red over blue) walks 10 frames, is missed for 3; person B (green over yellow)
    then appears where A's prediction is. Returns B's track numbers."""
    track = tracker(**settings)  # type: ignore[arg-type]
    for frame in range(10):
        step(track, frame, [(walk(100, frame), RED, BLUE)], with_image=with_image)
    for frame in range(10, 13):
        step(track, frame, [], with_image=with_image)
    seen: set[int] = set()
    for frame in range(13, 18):
        seen |= numbers(
            step(track, frame, [(walk(100, frame), GREEN, YELLOW)], with_image=with_image)
        )
    return seen


def test_a_lost_track_is_not_taken_over_by_someone_who_looks_different() -> None:
    assert stand_in_for_the_lost(with_image=True) == {2}
    # The same scene by boxes alone: B inherits A's number, the mix this rule prevents.
    assert stand_in_for_the_lost(with_image=False) == {1}
    assert stand_in_for_the_lost(with_image=True, appearance_gate=None) == {1}


def test_between_overlapping_boxes_the_one_that_looks_like_the_track_wins() -> None:
    # A (red over blue) walks alone, then B (green over yellow) steps in right where A's
    # prediction is, while A's own box jumps ahead (detector jitter): by boxes alone B fits A's
    # track better. The two boxes overlap, so colour decides.
    def run(with_image: bool) -> int:
        track = tracker()
        for frame in range(10):
            step(track, frame, [(walk(100, frame), RED, BLUE)], with_image=with_image)
        a_box = walk(100, 10)
        shifted_a = (a_box[0] + 30, a_box[1], a_box[2] + 30, a_box[3])
        b_box = (a_box[0] - 10, a_box[1], a_box[2] - 10, a_box[3])
        updates = step(
            track, 10, [(b_box, GREEN, YELLOW), (shifted_a, RED, BLUE)], with_image=with_image
        )
        one = next(u for u in updates if u.track_number == 1)
        return round(one.box.x1)

    assert run(with_image=True) == round(walk(100, 10)[0] + 30)
    assert run(with_image=False) == round(walk(100, 10)[0] - 10)


def test_a_lone_person_keeps_the_track_when_the_light_changes() -> None:
    # Colour refuses only a lost track's pairs: a live track keeps the box its track leads to.
    track = tracker()
    seen: set[int] = set()
    for frame in range(20):
        shirt, trousers = (RED, BLUE) if frame < 10 else (GREEN, YELLOW)
        seen |= numbers(step(track, frame, [(walk(100, frame), shirt, trousers)]))
    assert seen == {1}


def exit_and_entry(**settings: bool) -> tuple[list[TrackUpdate], set[int]]:
    """A walks out at the right edge (12 px a frame); two frames after A's last detection, B,
    dressed the same, enters at that edge walking left. Returns A's updates and B's numbers."""
    track = tracker(appearance_gate=None, **settings)  # boxes alone: the border rule on its own
    a_updates: list[TrackUpdate] = []
    for frame in range(8):
        x = WIDTH - 150.0 + 12.0 * frame
        updates = step(track, frame, [((x, 150.0, x + 50.0, 300.0), RED, BLUE)])
        a_updates += [u for u in updates if u.track_number == 1]
    seen: set[int] = set()
    for frame in range(8, 16):
        b = WIDTH - 40.0 - 2.0 * (frame - 10)
        people = [] if frame < 10 else [((b, 150.0, WIDTH - 1.0, 300.0), RED, BLUE)]
        updates = step(track, frame, people)
        a_updates += [u for u in updates if u.track_number == 1]
        seen |= numbers(updates)
    return a_updates, seen


def test_a_lost_track_at_the_border_ends_and_is_not_reactivated_by_someone_entering() -> None:
    a_updates, b_numbers = exit_and_entry()
    assert 1 not in b_numbers and b_numbers
    assert [u.state for u in a_updates].count(TrackState.ENDED) == 1
    # Without the rule the lost track waits out its buffer and the newcomer takes it over.
    _, b_numbers = exit_and_entry(end_at_border=False)
    assert 1 in b_numbers


def test_a_person_half_hidden_behind_another_keeps_the_track() -> None:
    # A (red over blue) walks alone, then B (green over yellow) walks in front of A, hiding
    # most of A's box, for 20 frames: A's box now shows mostly B's colours, yet it is A's.
    track = tracker()
    for frame in range(10):
        step(track, frame, [(walk(100, frame), RED, BLUE)])
    states = []
    for frame in range(10, 30):
        a = walk(100, frame)
        b = (a[0] + 15, a[1], a[2] + 15, a[3])
        updates = step(track, frame, [(a, RED, BLUE), (b, GREEN, YELLOW)])
        states += [u.state for u in updates if u.track_number == 1]
    assert states == [TrackState.UPDATED] * 20
