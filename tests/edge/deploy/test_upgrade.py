"""edge.deploy.upgrade: the desired agent image goes to the host; a failed upgrade comes back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edge.deploy.upgrade import AgentUpgrades, AgentUpgradeSettings

OLD = "sightline-edge-jetson:0.1.0"
NEW = "sightline-edge-jetson:0.2.0"


@pytest.fixture
def settings(tmp_path: Path) -> AgentUpgradeSettings:
    return AgentUpgradeSettings(
        image=OLD,
        desired_file=tmp_path / "agent-desired",
        result_file=tmp_path / "upgrade.json",
    )


def host_result(settings: AgentUpgradeSettings, to: str, result: str, detail: str) -> None:
    outcome = {"from": OLD, "to": to, "result": result, "detail": detail, "at": "2026-11-28"}
    settings.result_file.write_text(json.dumps(outcome))


def test_a_new_image_is_handed_to_the_host_once(settings: AgentUpgradeSettings) -> None:
    upgrades = AgentUpgrades(settings)
    upgrades.want(NEW)
    assert settings.desired_file.read_text() == f"{NEW}\n"
    assert upgrades.problem() == ""  # the host is at it
    written = settings.desired_file.stat().st_mtime_ns
    os.utime(settings.desired_file, ns=(0, 0))
    upgrades.want(NEW)  # the same image again (a restart, a later generation): left alone
    assert settings.desired_file.stat().st_mtime_ns == 0 != written
    assert [p.name for p in settings.desired_file.parent.iterdir()] == ["agent-desired"]


def test_the_running_image_or_no_wish_writes_nothing(settings: AgentUpgradeSettings) -> None:
    upgrades = AgentUpgrades(settings)
    for image in ("", OLD):
        upgrades.want(image)
        assert upgrades.problem() == ""
    assert not settings.desired_file.exists()
    assert upgrades.running_image == OLD


def test_an_upgrade_the_host_rolled_back_is_reported_and_not_asked_for_again(
    settings: AgentUpgradeSettings,
) -> None:
    host_result(settings, NEW, "rolled-back", "not healthy within 300s")
    upgrades = AgentUpgrades(settings)
    upgrades.want(NEW)
    assert not settings.desired_file.exists()
    assert upgrades.problem() == (
        f"agent image {NEW}: rolled-back by the host (not healthy within 300s)"
    )
    newer = "sightline-edge-jetson:0.3.0"
    upgrades.want(newer)  # another image is tried
    assert settings.desired_file.read_text() == f"{newer}\n"
    assert upgrades.problem() == ""


@pytest.mark.parametrize("outcome", ['{"to": "x", "result": "rolled-back"}', "not json", "[]"])
def test_an_outcome_about_another_image_or_unreadable_is_no_failure(
    settings: AgentUpgradeSettings, outcome: str
) -> None:
    settings.result_file.write_text(outcome)
    upgrades = AgentUpgrades(settings)
    upgrades.want(NEW)
    assert settings.desired_file.exists() and upgrades.problem() == ""


def test_a_device_whose_host_does_not_upgrade_refuses_an_image() -> None:
    upgrades = AgentUpgrades(None)
    upgrades.want(NEW)
    assert "does not take agent images" in upgrades.problem()
    assert upgrades.running_image == ""


def test_a_file_that_cannot_be_written_is_reported(tmp_path: Path) -> None:
    settings = AgentUpgradeSettings(
        desired_file=tmp_path / "missing" / "agent-desired", result_file=tmp_path / "upgrade.json"
    )
    upgrades = AgentUpgrades(settings)
    upgrades.want(NEW)
    assert upgrades.problem().startswith(f"agent image {NEW}: cannot hand it to the host in ")
