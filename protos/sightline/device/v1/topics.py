"""MQTT topic names of the device contract: the one module that builds or parses a topic.

Both sides use it (docs/architecture.md, "Transport"): the edge builds its own topics and parses
what it receives, the cloud bridge subscribes to every device's upstream topics and parses them.
Layout, with `<base>` = `<prefix>/v1/<site>/<device>`:

- upstream (device -> cloud): `<base>/status` (retained), `<base>/metrics` (the heartbeat),
  `<base>/reported`, and `<base>/cmd/<name>/result` (`CommandResult`, the answer to a command).
  Presence and state only: records that must be stored (events, track summaries) go over gRPC
  with an ack per record (docs/architecture.md, "Transport").
- downstream (cloud -> device): `<base>/desired` (`DesiredState`, retained, so a device that
  was offline gets the latest one when it reconnects) and `<base>/cmd/<name>` (`Command`, not
  retained: a command has an expiry instead). Only the cloud's bridge account may write them.

"v1" names the protobuf package of the payloads (`sightline.device.v1`). The prefix may span
levels (`acme/sightline`). The broker ACL confines a device account to
`<prefix>/v1/+/<device>/#`, so the device level is the device's MQTT user name.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Final

from pydantic import AfterValidator

WIRE_VERSION: Final = "v1"
# MQTT 3.1.1 section 4.7.1 (wildcards), 4.7.3 (no U+0000); "/" would add a level.
_FORBIDDEN: Final = ("/", "+", "#", "\x00")


class Upstream(enum.StrEnum):
    """Leaf of an upstream topic; each names its payload message in `sightline.device.v1`."""

    STATUS = "status"
    """`DeviceStatus`, retained: birth message and last will."""
    METRICS = "metrics"
    """`Metrics`."""
    REPORTED = "reported"
    """`ReportedState`."""


class Downstream(enum.StrEnum):
    """What a downstream topic carries (`DeviceTopics.parse_downstream`)."""

    DESIRED = "desired"
    """`DesiredState`, retained."""
    COMMAND = "cmd"
    """`Command`, at `cmd/<name>`."""


COMMAND_RESULT_LEAF: Final = "result"
"""Last level of `cmd/<name>/result`, where a device answers a command."""


def validate_level(value: str, what: str) -> str:
    """Return `value` if it can be one topic level; raise ValueError naming `what` otherwise.

    A level must be non-empty, hold no `/`, `+`, `#` or NUL, and not start with `$` (topics
    starting with `$` are the broker's own, MQTT 3.1.1 section 4.7.2).
    """
    if not value:
        raise ValueError(f"{what} must not be empty")
    bad = [char for char in _FORBIDDEN if char in value]
    if bad:
        raise ValueError(f"{what} {value!r} must not contain {' '.join(map(repr, bad))}")
    if value.startswith("$"):
        raise ValueError(f"{what} {value!r} must not start with '$'")
    return value


def validate_prefix(prefix: str) -> str:
    """Return `prefix` if each of its levels is a valid topic level; raise ValueError."""
    for level in prefix.split("/"):
        validate_level(level, "topic prefix level")
    return prefix


TopicPrefix = Annotated[str, AfterValidator(validate_prefix)]
"""A topic prefix as a settings field type (pydantic): validated by `validate_prefix`."""


@dataclass(frozen=True)
class DeviceTopics:
    """Topics of one device. Construction validates every level (ValueError)."""

    prefix: str
    """Root of every topic; one or more levels (`sightline`, `acme/sightline`)."""
    site: str
    device: str

    def __post_init__(self) -> None:
        validate_prefix(self.prefix)
        validate_level(self.site, "site")
        validate_level(self.device, "device id")

    @property
    def base(self) -> str:
        """`<prefix>/v1/<site>/<device>`, the root of this device's topics."""
        return f"{self.prefix}/{WIRE_VERSION}/{self.site}/{self.device}"

    def upstream(self, leaf: Upstream) -> str:
        """Topic of an upstream leaf (`status`, `events`, ...)."""
        return f"{self.base}/{leaf.value}"

    @property
    def status(self) -> str:
        """Retained birth / last-will topic (DeviceStatus)."""
        return self.upstream(Upstream.STATUS)

    @property
    def desired(self) -> str:
        """Retained desired state of this device (DesiredState), written by the cloud only."""
        return f"{self.base}/{Downstream.DESIRED}"

    def command(self, name: str) -> str:
        """Topic of the command `name` (Command); ValueError for a name that is no level."""
        return f"{self.base}/{Downstream.COMMAND}/{validate_level(name, 'command name')}"

    def command_result(self, name: str) -> str:
        """Where the device answers the command `name` (CommandResult)."""
        return f"{self.command(name)}/{COMMAND_RESULT_LEAF}"

    @property
    def downstream_subscriptions(self) -> tuple[str, str]:
        """The filters a device subscribes to: its desired state and all its commands."""
        return self.desired, f"{self.base}/{Downstream.COMMAND}/+"

    def parse_downstream(self, topic: str) -> DownstreamTopic | None:
        """What a message this device received is, or None when not one of its downstream
        topics (a command result, another device's topic, a malformed command name)."""
        rest = topic.removeprefix(f"{self.base}/")
        if rest == topic:
            return None
        if rest == Downstream.DESIRED:
            return DownstreamTopic(Downstream.DESIRED)
        kind, _, name = rest.partition("/")
        if kind != Downstream.COMMAND or not name or "/" in name:
            return None
        return DownstreamTopic(Downstream.COMMAND, name)


@dataclass(frozen=True)
class DownstreamTopic:
    """A downstream message as its device sees it: desired state, or the command `command`."""

    kind: Downstream
    command: str = ""


@dataclass(frozen=True)
class UpstreamTopic:
    """Where an upstream message came from, parsed from its topic by the cloud."""

    site: str
    device_id: str
    leaf: Upstream

    def __str__(self) -> str:
        return f"{self.site}/{self.device_id}/{self.leaf}"


def upstream_subscriptions(prefix: str, sites: Sequence[str] = ()) -> tuple[str, ...]:
    """Topic filters matching every upstream leaf of every device at `sites` (all if empty)."""
    validate_prefix(prefix)
    for site in sites:
        validate_level(site, "site")
    return tuple(
        f"{prefix}/{WIRE_VERSION}/{site}/+/{leaf}" for site in sites or ("+",) for leaf in Upstream
    )


def downstream_publications(prefix: str, sites: Sequence[str] = ()) -> tuple[str, ...]:
    """Topic filters of what the cloud writes to every device at `sites` (all if empty): each
    device's desired state and commands."""
    validate_prefix(prefix)
    for site in sites:
        validate_level(site, "site")
    return tuple(
        f"{prefix}/{WIRE_VERSION}/{site}/+/{leaf}"
        for site in sites or ("+",)
        for leaf in (Downstream.DESIRED, f"{Downstream.COMMAND}/+")
    )


def parse_upstream(prefix: str, topic: str) -> UpstreamTopic | None:
    """The site, device and leaf of an upstream topic, or None when it is not one."""
    rest = topic.removeprefix(f"{prefix}/{WIRE_VERSION}/")
    if rest == topic:
        return None
    levels = rest.split("/")
    if len(levels) != 3 or not all(levels):
        return None
    site, device_id, leaf = levels
    try:
        return UpstreamTopic(site=site, device_id=device_id, leaf=Upstream(leaf))
    except ValueError:
        return None
