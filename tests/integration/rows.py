"""Waiting for the cloud's processes to write rows, read straight from PostgreSQL."""

from __future__ import annotations

import time

import psycopg


def wait_for_detections(
    database_url: str, condition: str, count: int, timeout_s: float, poll_s: float = 0.2
) -> float:
    """Wait until at least `count` detection rows meet the SQL `condition`; return the wait.

    Fails the test naming the condition when they do not within `timeout_s`.
    """
    start = time.monotonic()
    found = 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() - start < timeout_s:
            row = conn.execute(
                f"SELECT count(*) FROM detections_detection WHERE {condition}"
            ).fetchone()
            found = row[0] if row is not None else 0
            if found >= count:
                return time.monotonic() - start
            time.sleep(poll_s)
    raise AssertionError(f"{found} of {count} detections with {condition} after {timeout_s} s")
