from __future__ import annotations

import re

import pytest

from sightline.device.v1.topics import (
    DeviceTopics,
    Downstream,
    DownstreamTopic,
    Upstream,
    UpstreamTopic,
    downstream_publications,
    parse_upstream,
    upstream_subscriptions,
    validate_prefix,
)

TOPICS = DeviceTopics(prefix="sightline", site="lobby", device="cam-box-7")


def test_it_builds_every_upstream_leaf_under_the_device_base() -> None:
    assert [TOPICS.upstream(leaf) for leaf in Upstream] == [
        "sightline/v1/lobby/cam-box-7/status",
        "sightline/v1/lobby/cam-box-7/metrics",
        "sightline/v1/lobby/cam-box-7/reported",
    ]
    assert TOPICS.status == "sightline/v1/lobby/cam-box-7/status"


def test_a_multi_level_prefix_is_allowed() -> None:
    topics = DeviceTopics(prefix="acme/sightline", site="s", device="d")
    assert topics.status == "acme/sightline/v1/s/d/status"


@pytest.mark.parametrize(
    ("prefix", "site", "device", "message"),
    [
        ("sightline", "", "d", "site must not be empty"),
        ("sightline", "a/b", "d", "site 'a/b' must not contain '/'"),
        ("sightline", "s", "dev+1", "device id 'dev+1' must not contain '+'"),
        ("sightline", "s", "#", "device id '#' must not contain '#'"),
        ("sightline", "s", "nul\x00", "must not contain '\\x00'"),
        ("$SYS", "s", "d", "must not start with '$'"),
        ("acme//sightline", "s", "d", "topic prefix level must not be empty"),
        ("sightline/", "s", "d", "topic prefix level must not be empty"),
    ],
)
def test_it_refuses_segments_that_would_change_the_topic_tree(
    prefix: str, site: str, device: str, message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        DeviceTopics(prefix=prefix, site=site, device=device)


def test_the_cloud_subscribes_to_every_upstream_leaf_of_every_device() -> None:
    assert upstream_subscriptions("acme/sightline") == (
        "acme/sightline/v1/+/+/status",
        "acme/sightline/v1/+/+/metrics",
        "acme/sightline/v1/+/+/reported",
    )


def test_a_bridge_can_serve_a_share_of_the_sites() -> None:
    assert upstream_subscriptions("sightline", ["hq", "depot"])[::3] == (
        "sightline/v1/hq/+/status",
        "sightline/v1/depot/+/status",
    )
    with pytest.raises(ValueError, match="site"):
        upstream_subscriptions("sightline", ["hq/east"])


@pytest.mark.parametrize(
    ("topic", "parsed"),
    [
        ("sightline/v1/hq/gate-01/status", UpstreamTopic("hq", "gate-01", Upstream.STATUS)),
        ("sightline/v1/hq/gate-01/metrics", UpstreamTopic("hq", "gate-01", Upstream.METRICS)),
        ("sightline/v1/hq/gate-01/events", None),
        (
            "sightline/v1/site-2/cam.box/reported",
            UpstreamTopic("site-2", "cam.box", Upstream.REPORTED),
        ),
        ("sightline/v1/hq/gate-01/cmd/restart", None),
        ("sightline/v1/hq/gate-01/desired", None),
        ("sightline/v2/hq/gate-01/status", None),
        ("other/v1/hq/gate-01/status", None),
        ("sightline/v1/hq//status", None),
        ("sightline/v1/hq/gate-01/status/extra", None),
    ],
)
def test_the_cloud_parses_upstream_topics_only(topic: str, parsed: UpstreamTopic | None) -> None:
    assert parse_upstream("sightline", topic) == parsed


@pytest.mark.parametrize("prefix", ["", "a//b", "sightline/+", "#", "$SYS"])
def test_it_refuses_prefixes_that_are_not_plain_levels(prefix: str) -> None:
    with pytest.raises(ValueError, match="topic prefix"):
        validate_prefix(prefix)


def test_downstream_topics_sit_under_the_devices_base() -> None:
    topics = DeviceTopics(prefix="acme/sightline", site="s", device="d")
    assert topics.desired == "acme/sightline/v1/s/d/desired"
    assert topics.command("report_state") == "acme/sightline/v1/s/d/cmd/report_state"
    assert topics.command_result("report_state") == "acme/sightline/v1/s/d/cmd/report_state/result"
    assert topics.downstream_subscriptions == (
        "acme/sightline/v1/s/d/desired",
        "acme/sightline/v1/s/d/cmd/+",
    )


@pytest.mark.parametrize("name", ["", "a/b", "+", "#"])
def test_a_command_name_must_be_one_level(name: str) -> None:
    with pytest.raises(ValueError, match="command name"):
        DeviceTopics(prefix="p", site="s", device="d").command(name)


@pytest.mark.parametrize(
    ("topic", "parsed"),
    [
        ("p/v1/s/d/desired", DownstreamTopic(Downstream.DESIRED)),
        ("p/v1/s/d/cmd/report_state", DownstreamTopic(Downstream.COMMAND, "report_state")),
        ("p/v1/s/d/cmd/report_state/result", None),
        ("p/v1/s/d/cmd/", None),
        ("p/v1/s/other/desired", None),
        ("p/v1/s/d/status", None),
        ("p/v1/s/d/desired/x", None),
    ],
)
def test_a_device_parses_only_its_own_downstream_topics(
    topic: str, parsed: DownstreamTopic | None
) -> None:
    assert DeviceTopics(prefix="p", site="s", device="d").parse_downstream(topic) == parsed


def test_the_cloud_writes_desired_state_and_commands_at_its_sites() -> None:
    assert downstream_publications("p", ["a", "b"]) == (
        "p/v1/a/+/desired",
        "p/v1/a/+/cmd/+",
        "p/v1/b/+/desired",
        "p/v1/b/+/cmd/+",
    )
    assert downstream_publications("p") == ("p/v1/+/+/desired", "p/v1/+/+/cmd/+")
