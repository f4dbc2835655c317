"""Heartbeats as the bridge hands them to `record_heartbeat(s)`, for the fleet and monitoring
tests."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from cloud.fleet.services import Heartbeat, LaneCounts


def lane(kind: str, **counts: int | str) -> LaneCounts:
    """An outbox lane with nothing waiting, lost or delivered, but for `counts`."""
    empty = LaneCounts(
        kind=kind,
        rows=0,
        bytes=0,
        dropped_total=0,
        dead_letters_total=0,
        delivered_total=0,
        error="",
    )
    return dataclasses.replace(empty, **counts)


def heartbeat(seq: int, sampled_at: datetime, *lanes: LaneCounts, **fields: int) -> Heartbeat:
    """A heartbeat of an empty outbox with 1 GB free, but for `lanes` and `fields`."""
    empty = Heartbeat(
        seq=seq,
        session_seq=1,
        sampled_at=sampled_at,
        outbox_rows=0,
        outbox_bytes=0,
        outbox_dropped_total=0,
        tracks_interrupted_total=0,
        disk_free_bytes=10**9,
        lanes=lanes,
    )
    return dataclasses.replace(empty, **fields)
