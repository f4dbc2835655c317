"""MQTT topics the cloud reads from devices: the only cloud module that builds or parses them.

Layout (STYLE.md, "MQTT edge transport"): ``<prefix>/v1/<site>/<device>/<leaf>``, where the
prefix may span levels (``acme/sightline``), ``v1`` names the payload package
(`sightline.device.v1`) and the device level is the device's MQTT username, which the broker's
ACL enforces. The edge builds the same names in its own module; the two never share code.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

WIRE_VERSION: Final = "v1"
# MQTT 3.1.1 section 4.7.1 (wildcards) and 4.7.3 (no U+0000).
_FORBIDDEN: Final = ("+", "#", "\x00")


class Leaf(enum.StrEnum):
    """Upstream topic leaves the bridge subscribes to; each names its payload message."""

    STATUS = "status"
    """`DeviceStatus`, retained: birth message and last will."""
    EVENTS = "events"
    """`Event`."""
    TRACKS = "tracks"
    """`TrackSummary`."""
    METRICS = "metrics"
    """`Metrics`."""
    REPORTED = "reported"
    """`ReportedState`."""


@dataclass(frozen=True)
class DeviceTopic:
    """Where a device message came from, parsed from its topic."""

    site: str
    device_id: str
    leaf: Leaf

    def __str__(self) -> str:
        return f"{self.site}/{self.device_id}/{self.leaf}"


def validate_prefix(prefix: str) -> str:
    """Return `prefix` if every level is non-empty and holds no wildcard; raise ValueError."""
    for level in prefix.split("/"):
        _validate_level(level, f"topic prefix {prefix!r}")
    return prefix


def _validate_level(level: str, what: str) -> None:
    if not level or "/" in level or any(char in level for char in _FORBIDDEN) or level[0] == "$":
        raise ValueError(
            f"{what}: each level must be non-empty, free of '/', '+', '#' and NUL, and not "
            "start with '$'"
        )


def subscriptions(prefix: str, sites: Sequence[str] = ()) -> tuple[str, ...]:
    """Topic filters matching every upstream leaf of every device at `sites` (all if empty)."""
    for site in sites:
        _validate_level(site, "site")
    return tuple(
        f"{validate_prefix(prefix)}/{WIRE_VERSION}/{site}/+/{leaf}"
        for site in sites or ("+",)
        for leaf in Leaf
    )


def parse_topic(prefix: str, topic: str) -> DeviceTopic | None:
    """The site, device and leaf of an upstream topic, or None when it is not one."""
    rest = topic.removeprefix(f"{prefix}/{WIRE_VERSION}/")
    if rest == topic:
        return None
    levels = rest.split("/")
    if len(levels) != 3 or not all(levels):
        return None
    site, device_id, leaf = levels
    try:
        return DeviceTopic(site=site, device_id=device_id, leaf=Leaf(leaf))
    except ValueError:
        return None
