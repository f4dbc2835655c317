"""Track updates as a tracker at 10 fps would report them, for the crop and ledger tests."""

from __future__ import annotations

from edge.geometry import Box
from edge.tracking.base import TrackState, TrackUpdate

# The man standing on the grass in vtest.avi; he barely moves in the first 10 frames.
PERSON = Box(248.0, 216.0, 288.0, 310.0)


def track_update(
    frame_index: int,
    state: TrackState = TrackState.UPDATED,
    *,
    number: int = 1,
    box: Box = PERSON,
    score: float = 0.8,
    first_frame: int = 0,
    hits: int | None = None,
) -> TrackUpdate:
    """An update of a person track first detected on `first_frame`, matched on every frame since
    unless `hits` says otherwise."""
    age = frame_index - first_frame + 1
    return TrackUpdate(
        track_number=number,
        state=state,
        box=box,
        score=score,
        class_id=0,
        label="person",
        frame_index=frame_index,
        timestamp=frame_index / 10,
        age=age,
        hits=age if hits is None else hits,
    )
