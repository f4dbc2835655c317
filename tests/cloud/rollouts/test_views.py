"""The rollout pages: the list, the staff form (preview, then start), a rollout's page and the
operator's actions on it. The fleet and its health are those of conftest.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cloud.access.models import Role
from cloud.deploy.models import ModelVersion
from cloud.deploy.services import record_reported_state
from cloud.fleet.models import Device, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.rollouts import services
from cloud.rollouts.engine import Phase
from cloud.rollouts.gate import GateBounds
from cloud.rollouts.models import Rollout, RolloutDevice, RolloutEvent
from cloud.rollouts.services import RolloutRequest, Selector
from tests.cloud.rollouts.reports import CPU, GPU, runs
from tests.users import make_user

Versions = tuple[ModelVersion, ModelVersion]


@pytest.fixture
def staff(client: Client, db: None) -> Client:
    client.force_login(make_user("ops", Role.OPERATOR))
    return client


@pytest.fixture
def viewer(client: Client, db: None) -> Client:
    client.force_login(make_user("viewer"))
    return client


def form(new: ModelVersion, **changes: str | list[str]) -> dict[str, str | list[str]]:
    """The rollout form as a staff user fills it: the defaults, with `changes`."""
    values: dict[str, str | list[str]] = {
        "name": "nanodet-2",
        "model_version": str(new.pk),
        "hardware": ["x86-cpu"],
        "stages": "1,10%,50%,100%",
        "approvals": "",
        "soak_s": "300",
        "baseline_s": "600",
        **{f"bound_{name}": str(info.default) for name, info in GateBounds.model_fields.items()},
    }
    return {**values, **changes}


def started(
    new: ModelVersion, name: str = "nanodet-2", stages: tuple[str, ...] = ("1", "50%", "100%")
) -> Rollout:
    return services.start_rollout(
        RolloutRequest(
            name=name,
            model_version_id=new.pk,
            selector=Selector(),
            stages=stages,
            soak=timedelta(seconds=60),
            baseline=timedelta(minutes=10),
            bounds=GateBounds(),
        ),
        actor="alice",
    )


def test_every_page_needs_a_login(client: Client, old_and_new: Versions) -> None:
    started(old_and_new[1])
    for url in ("/rollouts/", "/rollouts/new/", "/rollouts/nanodet-2/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/")


def test_only_staff_start_or_steer_a_rollout(viewer: Client, old_and_new: Versions) -> None:
    new = old_and_new[1]
    rollout = started(new)
    listing = viewer.get("/rollouts/").content.decode()
    assert 'id="rollout-nanodet-2"' in listing
    assert "Start a rollout" not in listing
    assert viewer.get("/rollouts/new/").status_code == 403
    assert (
        viewer.post("/rollouts/new/", {**form(new, name="other"), "start": "1"}).status_code == 403
    )
    assert not Rollout.objects.filter(name="other").exists()
    page = viewer.get("/rollouts/nanodet-2/").content.decode()
    assert 'value="pause"' not in page
    assert viewer.post("/rollouts/nanodet-2/act/", {"action": "pause"}).status_code == 403
    rollout.refresh_from_db()
    assert rollout.phase == Phase.RUNNING


def test_the_preview_shows_each_stages_devices_and_stores_nothing(
    staff: Client, old_and_new: Versions
) -> None:
    new = old_and_new[1]
    page = staff.get("/rollouts/new/").content.decode()
    assert 'value="1,10%,50%,100%"' in page
    assert "Largest fall of mean fps" in page  # the bounds' own descriptions
    response = staff.post("/rollouts/new/", {**form(new), "preview": "1"})
    assert response.status_code == 200
    page = response.content.decode()
    # Six CPU devices: a canary, then 10% rounds to the next device, then half, then the rest.
    plan = response.context["plan"]
    assert [len(stage.devices) for stage in plan] == [1, 1, 1, 3]
    assert sorted(device for stage in plan for device in stage.devices) == CPU
    assert all(device not in page for device in GPU)
    assert 'name="start"' in page
    assert not Rollout.objects.exists()


def test_a_plan_that_cannot_work_is_shown_on_the_form(staff: Client, old_and_new: Versions) -> None:
    new = old_and_new[1]
    response = staff.post("/rollouts/new/", {**form(new, stages="1,50%"), "preview": "1"})
    assert response.status_code == 400
    assert "end with 100%" in response.content.decode()
    response = staff.post("/rollouts/new/", {**form(new, hardware=["jetson-orin"]), "start": "1"})
    assert "the selector matches no device" in response.content.decode()
    response = staff.post("/rollouts/new/", {**form(new, bound_max_fps_drop="2"), "start": "1"})
    assert response.status_code == 400
    assert "less than or equal to 1" in response.content.decode()
    assert not Rollout.objects.exists()


def test_staff_start_a_rollout_from_the_form(staff: Client, old_and_new: Versions) -> None:
    new = old_and_new[1]
    response = staff.post(
        "/rollouts/new/", {**form(new, approvals="3", bound_min_samples="5"), "start": "1"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/rollouts/nanodet-2/"
    rollout = Rollout.objects.get()
    assert (rollout.created_by, rollout.phase, rollout.stage) == ("ops", Phase.RUNNING, 0)
    assert rollout.selector["hardware"] == ["x86-cpu"]
    assert rollout.approvals == [2]
    assert rollout.bounds["min_samples"] == 5
    page = staff.get(response["Location"]).content.decode()
    assert "Rollout nanodet-2 started." in page
    assert "stage 1 started" in page
    # A second rollout of the same name is refused on the form.
    again = staff.post("/rollouts/new/", {**form(new), "start": "1"})
    assert "exists already" in again.content.decode()
    assert Rollout.objects.count() == 1


def test_an_action_applies_and_one_that_does_not_says_why(
    staff: Client, old_and_new: Versions
) -> None:
    started(old_and_new[1])
    page = staff.get("/rollouts/nanodet-2/").content.decode()
    assert 'value="pause"' in page and 'value="resume"' not in page
    response = staff.post(
        "/rollouts/nanodet-2/act/", {"action": "pause", "reason": "night shift"}, follow=True
    )
    page = response.content.decode()
    assert "nanodet-2: pause done; it is now paused." in page
    assert "paused: night shift" in page
    event = RolloutEvent.objects.latest("id")
    assert (event.actor, event.action, event.reason) == ("ops", "pause", "paused: night shift")
    response = staff.post("/rollouts/nanodet-2/act/", {"action": "approve"}, follow=True)
    assert "Not done: cannot approve rollout" in response.content.decode()
    assert Rollout.objects.get().phase == Phase.PAUSED
    assert staff.post("/rollouts/ghost/act/", {"action": "pause"}).status_code == 404
    assert staff.get("/rollouts/nanodet-2/act/").status_code == 405


def test_staff_approve_a_stage_that_asks_for_it(staff: Client, old_and_new: Versions) -> None:
    new = old_and_new[1]
    staff.post("/rollouts/new/", {**form(new, approvals="1"), "start": "1"})
    page = staff.get("/rollouts/nanodet-2/").content.decode()
    assert "awaiting_approval" in page and "none started of 4" in page
    assert 'value="approve"' in page and 'value="pause"' not in page
    staff.post("/rollouts/nanodet-2/act/", {"action": "approve", "reason": "canary picked"})
    rollout = Rollout.objects.get()
    assert (rollout.phase, rollout.stage) == (Phase.RUNNING, 0)
    assert RolloutEvent.objects.latest("id").reason == "approved; stage 1 started: canary picked"


def test_the_rollout_page_reads_a_fixed_number_of_queries(
    staff: Client, old_and_new: Versions
) -> None:
    """Every device in one stage, each running the new model: the page judges them all."""
    new = old_and_new[1]

    def page_of(rollout: Rollout) -> CaptureQueriesContext:
        # Assigned a minute ago (the page judges at the real time), running it since.
        now = timezone.now()
        rollout.devices.update(assigned_at=now - timedelta(seconds=60))
        for device_id in rollout.devices.values_list("device_id", flat=True):
            runs(device_id, new, now - timedelta(seconds=55), timedelta(seconds=50))
        with CaptureQueriesContext(connection) as queries:
            page = staff.get(f"/rollouts/{rollout.name}/").content.decode()
        assert page.count('<td class="verdict">passes') == rollout.devices.count()
        return queries

    small = started(new, stages=("100%",))
    few = page_of(small)
    for n in range(8):
        Device.objects.create(
            site=ensure_site("default"), id=f"more-{n}", hardware_profile=HardwareProfile.X86_CPU
        )
    services.act(small.name, "abort", "alice")
    more = page_of(started(new, name="bigger", stages=("100%",)))
    assert len(more) == len(few)


def test_staff_start_an_agent_rollout_from_the_form(staff: Client, old_and_new: Versions) -> None:
    new = old_and_new[1]
    image = "sightline-edge-jetson:0.2.0"
    both = staff.post("/rollouts/new/", {**form(new, agent_image=image), "start": "1"})
    assert "Roll out one thing: a model version or an agent image." in both.content.decode()
    untagged = form(new, model_version="", agent_image="sightline-edge-jetson")
    assert "with a tag" in staff.post("/rollouts/new/", {**untagged, "start": "1"}).content.decode()
    assert not Rollout.objects.exists()

    response = staff.post(
        "/rollouts/new/", {**form(new, model_version="", agent_image=image), "start": "1"}
    )
    assert response.status_code == 302
    rollout = Rollout.objects.get()
    assert (rollout.model_version, rollout.agent_image) == (None, image)
    assert f"agent {image}" in staff.get("/rollouts/").content.decode()
    canary = RolloutDevice.objects.get(rollout=rollout, stage=0).device_id
    record_reported_state(
        canary, seq=10**9, generation=2, config_version="", cameras=[], error="",
        reported_at=timezone.now(), received_at=timezone.now(),
        agent_image="sightline-edge-jetson:0.1.0",
    )  # fmt: skip
    page = staff.get(response["Location"]).content.decode()
    assert f"agent {image}" in page
    assert "<td>sightline-edge-jetson:0.1.0</td>" in page
