"""What well-formed stores are, checked after every example of the ingest fuzzers.

The checks take a row as a mapping of column names to values, as both the ORM
(`QuerySet.values()`) and psycopg (`dict_row`) give it, and read the stores through a
`StoreView`, so the unit fuzzers on SQLite and the integration fuzzers on PostgreSQL and S3
hold them to the same rules: ids in their grammar, no NUL, texts within their columns, times
within what a device may report, boxes normalised and in order, counters within a bigint, an
object behind every detection and a row behind every object, and every crop a whole JPEG
within the embedder's pixel bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from django.core.validators import RegexValidator
from django.db.models import Model

from cloud.detections.models import Detection, Track
from cloud.embeddings.spec import DEFAULT_MAX_CROP_PIXELS
from cloud.fleet.models import LANE_FIELDS, Camera, Device, DeviceEvent, DeviceHealth
from cloud.lib.jpeg import JpegHeaderError, read_jpeg_size
from cloud.lib.objectstore import ObjectStore
from cloud.validators import (
    EARLIEST,
    LATEST,
    MAX_BIGINT,
    validate_edge_name,
    validate_event_name,
    validate_uuid,
)

Row = Mapping[str, Any]

_SEVERITIES = {"EVENT_SEVERITY_INFO", "EVENT_SEVERITY_WARNING", "EVENT_SEVERITY_ERROR"}


def _matches(validator: RegexValidator) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and validator.regex.search(value) is not None


_name = _matches(validate_edge_name)
_uuid = _matches(validate_uuid)


def _text(value: Any, max_length: int, *, blank: bool = False) -> bool:
    return (
        isinstance(value, str)
        and (blank or value != "")
        and len(value) <= max_length
        and "\x00" not in value
    )


def _time(value: Any) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None and EARLIEST <= value < LATEST


def _unit(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0


def _count(value: Any) -> bool:
    return isinstance(value, int) and 0 <= value <= MAX_BIGINT


def _problems(row: Row, checks: Mapping[str, Callable[[Any], bool]]) -> list[str]:
    return [f"{name}={row[name]!r}" for name, check in checks.items() if not check(row[name])]


def detection_problems(row: Row) -> list[str]:
    """What is wrong with a `detections_detection` row."""
    problems = _problems(
        row,
        {
            "id": _uuid,
            "device_id": _name,
            "track_id": _uuid,
            "ts": _time,
            "x_min": _unit,
            "y_min": _unit,
            "x_max": _unit,
            "y_max": _unit,
            "frame_width": lambda v: 0 < v <= 16384,
            "frame_height": lambda v: 0 < v <= 16384,
            "label": lambda v: _text(v, 64),
            "score": _unit,
            "model_name": lambda v: _text(v, 100),
            "model_version": lambda v: _text(v, 64),
        },
    )
    if not problems and not (row["x_min"] <= row["x_max"] and row["y_min"] <= row["y_max"]):
        problems.append("box upside down")
    return problems


def track_problems(row: Row) -> list[str]:
    """What is wrong with a `detections_track` row."""
    problems = _problems(
        row,
        {
            "id": _uuid,
            "label": lambda v: _text(v, 64),
            "first_seen": _time,
            "last_seen": _time,
        },
    )
    if not problems and row["first_seen"] > row["last_seen"]:
        problems.append("first_seen after last_seen")
    return problems


def camera_problems(row: Row) -> list[str]:
    """What is wrong with a `fleet_camera` row."""
    return _problems(row, {"device_id": _name, "edge_id": _name})


def device_problems(row: Row) -> list[str]:
    """What is wrong with a `fleet_device` row (the fields devices can change)."""
    return _problems(
        row,
        {
            "status_seq": lambda v: v is None or _count(v),
            "agent_version": lambda v: _text(v, 64, blank=True),
            "last_seen": lambda v: v is None or _time(v),
        },
    )


def event_problems(row: Row) -> list[str]:
    """What is wrong with a `fleet_deviceevent` row."""
    problems = _problems(
        row,
        {
            "seq": lambda v: isinstance(v, int) and 1 <= v <= MAX_BIGINT,
            "kind": _matches(validate_event_name),
            "ts": _time,
            "payload": lambda v: isinstance(v, dict),
        },
    )
    if problems:
        return problems
    payload = row["payload"]
    attributes = payload.get("attributes", {})
    return _problems(
        payload,
        {
            "severity": lambda v: v in _SEVERITIES,
            "camera_id": lambda v: v == "" or _name(v),
            "message": lambda v: _text(v, 4096, blank=True),
            "attributes": lambda v: isinstance(v, dict) and len(v) <= 32,
        },
    ) + [
        f"attribute {key!r}"
        for key, value in attributes.items()
        if not (_text(key, 64) and _text(value, 1024, blank=True))
    ]


def health_problems(row: Row) -> list[str]:
    """What is wrong with a `fleet_devicehealth` row."""
    counters = (
        "seq",
        "session_seq",
        "outbox_rows",
        "outbox_bytes",
        "outbox_dropped_total",
        "tracks_interrupted_total",
        "disk_free_bytes",
    )
    problems = _problems(
        row,
        {
            **{name: _count for name in counters},
            "sampled_at": _time,
            "received_at": _time,
            "lanes": lambda v: isinstance(v, list) and len(v) <= 8,
        },
    )
    for lane in row["lanes"] if not problems else ():
        if not isinstance(lane, dict) or set(lane) != set(LANE_FIELDS):
            problems.append(f"lane {lane!r}")
            continue
        problems += _problems(
            lane,
            {
                "kind": _name,
                "error": lambda v: _text(v, 4096, blank=True),
                **{name: _count for name in LANE_FIELDS if name not in ("kind", "error")},
            },
        )
    return problems


CHECKS: Mapping[str, Callable[[Row], list[str]]] = {
    "detections_detection": detection_problems,
    "detections_track": track_problems,
    "fleet_camera": camera_problems,
    "fleet_device": device_problems,
    "fleet_deviceevent": event_problems,
    "fleet_devicehealth": health_problems,
}
"""The check of each table's rows."""


def ill_formed(table: str, rows: Iterable[Row]) -> list[str]:
    """One line per row of `table` that is not well-formed, naming what is wrong with it."""
    check = CHECKS[table]
    return [f"{table} {dict(row)!r}: {problems}" for row in rows if (problems := check(row))]


class StoreView(Protocol):
    """Read access to what the ingest stored: the database's rows and the object store."""

    def rows(self, table: str) -> Sequence[Row]:
        """Every row of `table` as a mapping of column names to values."""

    def object_keys(self) -> set[str]:
        """The keys of every stored crop object."""

    def object(self, key: str) -> bytes:
        """The bytes of a stored object."""


class OrmStores:
    """A `StoreView` of the test database (through the ORM) and an `ObjectStore`."""

    _MODELS: tuple[type[Model], ...] = (Detection, Track, Camera, Device, DeviceEvent, DeviceHealth)

    def __init__(self, objects: ObjectStore) -> None:
        self._objects = objects

    def rows(self, table: str) -> Sequence[Row]:
        """Every row of `table`."""
        (model,) = (m for m in self._MODELS if m._meta.db_table == table)
        return list(model.objects.values())

    def object_keys(self) -> set[str]:
        """The keys under ``crops/``."""
        return set(self._objects.list("crops/"))

    def object(self, key: str) -> bytes:
        """The object's bytes."""
        return self._objects.get(key)


def whole_jpeg_problem(data: bytes) -> str | None:
    """Why `data` is not a complete JPEG the embed worker decodes by default, or None."""
    try:
        size = read_jpeg_size(data)
    except JpegHeaderError as err:
        return str(err)
    if size.pixels > DEFAULT_MAX_CROP_PIXELS:
        return f"declares {size.width} x {size.height} pixels"
    if not data.endswith(b"\xff\xd9"):
        return "no EOI marker at its end"
    return None


def ill_formed_rows(rows: Callable[[str], Sequence[Row]]) -> set[str]:
    """`ill_formed` over every table of `CHECKS`, read with `rows(table)`."""
    return {line for table in CHECKS for line in ill_formed(table, rows(table))}


def problems(stores: StoreView, checked: set[str]) -> set[str]:
    """What is wrong with the stores: ill-formed rows, objects without rows and rows without
    objects, and the crops among the objects not in `checked` that are no whole JPEG."""
    keys = {row["object_key"] for row in stores.rows("detections_detection")}
    stored = stores.object_keys()
    return {
        *ill_formed_rows(stores.rows),
        *(f"object without a row: {key}" for key in stored - keys),
        *(f"row without an object: {key}" for key in keys - stored),
        *(
            f"{key}: {problem}"
            for key in stored - checked
            if (problem := whole_jpeg_problem(stores.object(key))) is not None
        ),
    }
