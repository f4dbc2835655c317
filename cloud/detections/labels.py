"""The classes the tracks have, for the search filter's choices, read without a scan.

`SELECT DISTINCT label` reads every track (hundreds of thousands at a million detections) to
find a handful of classes. A loose index scan finds them with one probe of the label index
(`tracks_label_last_seen`) per class instead: the smallest label, then the smallest one after
it, and so on, as a recursive query that both PostgreSQL and SQLite run.
"""

from __future__ import annotations

from collections.abc import Collection

from django.db import connection

from cloud.detections.models import Track


def track_labels(camera_ids: Collection[int] | None = None) -> list[str]:
    """The labels of the tracks, of `camera_ids`' cameras only when given, sorted, each once."""
    if camera_ids is not None and not camera_ids:
        return []
    table = connection.ops.quote_name(Track._meta.db_table)
    cameras = ""
    params: list[int] = []
    if camera_ids is not None:
        cameras = f" AND camera_id IN ({', '.join(['%s'] * len(camera_ids))})"
        params = sorted(camera_ids)
    # Only the table's own name and placeholders are formatted in; every value is a parameter.
    query = f"""
        WITH RECURSIVE labels(label) AS (
            SELECT (SELECT label FROM {table} WHERE 1 = 1{cameras} ORDER BY label LIMIT 1)
            UNION ALL
            SELECT (
                SELECT label FROM {table} WHERE label > labels.label{cameras}
                ORDER BY label LIMIT 1
            )
            FROM labels WHERE labels.label IS NOT NULL
        )
        SELECT label FROM labels WHERE label IS NOT NULL
    """
    with connection.cursor() as cursor:
        cursor.execute(query, [*params, *params])
        return [label for (label,) in cursor.fetchall()]
