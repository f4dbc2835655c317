from __future__ import annotations

import pytest

from cloud.ingest.topics import DeviceTopic, Leaf, parse_topic, subscriptions, validate_prefix


def test_it_subscribes_to_every_upstream_leaf_of_every_device() -> None:
    assert subscriptions("acme/sightline") == (
        "acme/sightline/v1/+/+/status",
        "acme/sightline/v1/+/+/events",
        "acme/sightline/v1/+/+/tracks",
        "acme/sightline/v1/+/+/metrics",
        "acme/sightline/v1/+/+/reported",
    )


def test_it_can_serve_a_share_of_the_sites() -> None:
    assert subscriptions("sightline", ["hq", "depot"])[::5] == (
        "sightline/v1/hq/+/status",
        "sightline/v1/depot/+/status",
    )
    with pytest.raises(ValueError, match="site"):
        subscriptions("sightline", ["hq/east"])


@pytest.mark.parametrize(
    ("topic", "parsed"),
    [
        ("sightline/v1/hq/gate-01/status", DeviceTopic("hq", "gate-01", Leaf.STATUS)),
        ("sightline/v1/hq/gate-01/events", DeviceTopic("hq", "gate-01", Leaf.EVENTS)),
        ("sightline/v1/site-2/cam.box/reported", DeviceTopic("site-2", "cam.box", Leaf.REPORTED)),
        ("sightline/v1/hq/gate-01/cmd/restart", None),
        ("sightline/v1/hq/gate-01/desired", None),
        ("sightline/v2/hq/gate-01/status", None),
        ("other/v1/hq/gate-01/status", None),
        ("sightline/v1/hq//status", None),
        ("sightline/v1/hq/gate-01/status/extra", None),
    ],
)
def test_it_parses_upstream_topics_only(topic: str, parsed: DeviceTopic | None) -> None:
    assert parse_topic("sightline", topic) == parsed


@pytest.mark.parametrize("prefix", ["", "a//b", "sightline/+", "#", "$SYS"])
def test_it_refuses_prefixes_that_are_not_plain_levels(prefix: str) -> None:
    with pytest.raises(ValueError, match="topic prefix"):
        validate_prefix(prefix)
