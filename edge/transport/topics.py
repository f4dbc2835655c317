"""MQTT topic names of one device: the only place the edge builds or parses a topic.

Layout (STYLE.md, MQTT edge transport), with `<base>` = `<prefix>/v1/<site>/<device>`:

- upstream (device -> cloud): `<base>/status` (retained), `<base>/events`, `<base>/tracks`,
  `<base>/metrics`, `<base>/reported`, and `<base>/cmd/<name>/result` answering a command;
- downstream (cloud -> device): `<base>/cmd/<name>` and `<base>/desired` (retained).

"v1" names the protobuf package version of the payloads (`sightline.device.v1`). The broker ACL
confines a device account to `<prefix>/v1/+/<device>/#`, so the device segment must be the MQTT
username. The cloud bridge builds its own topics; `cloud` never imports this module.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

WIRE_VERSION = "v1"
# MQTT 3.1.1 section 4.7.1 (wildcards), 4.7.3 (no U+0000); "/" would add a level.
_FORBIDDEN = ("/", "+", "#", "\x00")


class Upstream(enum.StrEnum):
    """Leaf of an upstream topic; its payload message is named in `sightline/device/v1`."""

    STATUS = "status"
    EVENTS = "events"
    TRACKS = "tracks"
    METRICS = "metrics"
    REPORTED = "reported"


def validate_segment(value: str, what: str) -> str:
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


@dataclass(frozen=True)
class Downstream:
    """A parsed downstream topic: a command (with its name) or the desired state."""

    command: str | None
    """Command name for `cmd/<name>`; None for `desired`."""

    @property
    def is_desired(self) -> bool:
        """True for the retained desired-state topic."""
        return self.command is None


@dataclass(frozen=True)
class DeviceTopics:
    """Topics of one device. Construction validates every segment (ValueError)."""

    prefix: str
    """Root of every topic; one or more levels (`sightline`, `acme/sightline`)."""
    site: str
    device: str

    def __post_init__(self) -> None:
        for level in self.prefix.split("/"):
            validate_segment(level, "topic prefix level")
        validate_segment(self.site, "site")
        validate_segment(self.device, "device id")

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
        """Retained desired-state topic (DesiredState), cloud -> device."""
        return f"{self.base}/desired"

    def command(self, name: str) -> str:
        """Topic the cloud sends command `name` on (Command)."""
        return f"{self.base}/cmd/{validate_segment(name, 'command name')}"

    def command_result(self, name: str) -> str:
        """Topic the device answers command `name` on (CommandResult)."""
        return f"{self.command(name)}/result"

    @property
    def command_filter(self) -> str:
        """Subscription matching every command and nothing else.

        `cmd/+`, not `cmd/#`: `#` would also match `cmd/<name>/result`, so the device would get
        its own results back (MQTT 3.1.1 has no "no local" option to prevent that).
        """
        return f"{self.base}/cmd/+"

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """Every topic filter the device subscribes to on connect."""
        return (self.command_filter, self.desired)

    def parse_downstream(self, topic: str) -> Downstream | None:
        """What a received topic is, or None when it is not one of this device's downstream
        topics (a message for a stale subscription, or a result echoed by the broker)."""
        rest = topic.removeprefix(self.base + "/")
        if rest == topic:
            return None
        if rest == "desired":
            return Downstream(command=None)
        levels = rest.split("/")
        if len(levels) == 2 and levels[0] == "cmd" and levels[1]:
            return Downstream(command=levels[1])
        return None
