"""`python -m cloud rollouts`: start, list, show and steer rollouts; --json, clear errors."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from cloud.deploy.models import ModelVersion
from cloud.rollouts.models import Rollout


def run(*args: str) -> str:
    out = StringIO()
    call_command("rollouts", "--actor", "alice", *args, stdout=out)
    return out.getvalue()


def test_a_dry_run_prints_the_plan_and_starts_nothing(
    old_and_new: tuple[ModelVersion, ModelVersion],
) -> None:
    plan = json.loads(
        run(
            "start",
            "r1",
            "--model",
            "nanodet-g",
            "2",
            "--stages",
            "1,50%,100%",
            "--dry-run",
            "--json",
        )
    )
    assert [len(devices) for devices in plan.values()] == [1, 3, 4]
    assert run("start", "r1", "--model", "nanodet-g", "2", "--dry-run").startswith("stage 1: ")
    assert not Rollout.objects.exists()


def test_start_list_show_and_steer(old_and_new: tuple[ModelVersion, ModelVersion]) -> None:
    started = json.loads(
        run(
            "start", "r1", "--model", "nanodet-g", "2", "--hardware", "x86-gpu",
            "--stages", "1,100%", "--soak-s", "30", "--bound", "max_fps_drop=0.1", "--json",
        )
    )  # fmt: skip
    assert (started["phase"], started["stage"]) == ("running", 1)
    assert Rollout.objects.get().bounds["max_fps_drop"] == 0.1
    assert json.loads(run("list", "--json"))[0]["name"] == "r1"
    assert "paused" in run("pause", "r1", "--reason", "checking")
    shown = json.loads(run("show", "r1", "--json"))
    assert [device["device"] for device in shown["devices"]] != []
    assert shown["log"][-1]["actor"] == "alice"
    assert shown["log"][-1]["reason"] == "paused: checking"


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("start", "r1", "--model", "nanodet-g", "9"), "no model nanodet-g 9"),
        (("start", "r1", "--model", "nanodet-g", "2", "--stages", "50%"), "end with 100%"),
        (("start", "r1", "--model", "nanodet-g", "2", "--bound", "max_fps_dorp=1"), "Extra"),
        (("resume", "r9"), "no rollout named 'r9'"),
        (("show", "r9"), "no rollout named 'r9'"),
    ],
)
def test_mistakes_get_clear_errors(
    old_and_new: tuple[ModelVersion, ModelVersion], args: tuple[str, ...], problem: str
) -> None:
    with pytest.raises(CommandError, match=problem):
        run(*args)


def test_an_action_that_does_not_apply_says_why(
    old_and_new: tuple[ModelVersion, ModelVersion],
) -> None:
    run("start", "r1", "--model", "nanodet-g", "2")
    with pytest.raises(CommandError, match="not paused"):
        run("resume", "r1")
