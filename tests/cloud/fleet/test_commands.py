"""The fleet's admin commands: ``devices``, ``sites``, ``groups``, ``tags``; text, --json and
errors that say what to do."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from cloud.fleet import revocation
from cloud.fleet.enrolment import exchange
from cloud.fleet.management.commands import devices
from cloud.fleet.models import Enrolment
from cloud.fleet.services import provision_device
from cloud.ingest.credentials import issue_token
from tests.cloud.fleet.accounts import MemoryAccounts

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def run_json(*args: str) -> Any:
    return json.loads(run(*args, "--json"))


@pytest.fixture
def accounts(monkeypatch: pytest.MonkeyPatch) -> MemoryAccounts:
    """The commands' broker: in memory."""
    memory = MemoryAccounts()
    monkeypatch.setattr(devices, "accounts_from_settings", lambda: memory)
    return memory


def test_sites_are_added_renamed_and_listed() -> None:
    assert run("sites", "add", "hq", "--name", "Head office").strip() == "hq: added"
    assert run("sites", "add", "hq", "--name", "HQ").strip() == "hq: renamed"
    provision_device("a", hardware_profile="x86-cpu", site="hq")
    assert {"id": "hq", "name": "HQ", "devices": 1} in run_json("sites", "list")
    with pytest.raises(CommandError, match=r"site 'no site'.*letters"):
        run("sites", "add", "no site")


def test_an_enrolment_token_is_printed_and_works(accounts: MemoryAccounts) -> None:
    run("sites", "add", "hq")
    printed = run_json(
        "devices", "enrol", "--site", "hq", "--hardware", "jetson-orin", "--device-id", "gate-1",
        "--tag", "beta", "--expires-in", "2",
    )  # fmt: skip
    assert printed["device_id"] == "gate-1"
    expires = Enrolment.objects.get().expires_at
    assert timedelta(hours=1.9) < expires - timezone.now() <= timedelta(hours=2)
    assert exchange(printed["token"], accounts).device_id == "gate-1"
    token = run("devices", "enrol", "--site", "hq", "--hardware", "x86-cpu").strip()
    assert len(token) == 43


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--site", "nowhere", "--hardware", "x86-cpu"], "site 'nowhere' does not exist: add it"),
        (["--site", "hq", "--hardware", "pi"], "invalid choice: 'pi'"),
        (["--site", "hq", "--hardware", "x86-cpu", "--expires-in", "0"], "expiry"),
        (["--hardware", "x86-cpu"], "--site"),
    ],
)
def test_a_bad_enrolment_is_a_clear_error(args: list[str], error: str) -> None:
    run("sites", "add", "hq")
    with pytest.raises(CommandError, match=error):
        run("devices", "enrol", *args)
    assert not Enrolment.objects.exists()


@pytest.fixture
def fleet() -> None:
    provision_device("gate-1", hardware_profile="jetson-orin", site="hq", tags=["beta"])
    provision_device("gate-2", hardware_profile="x86-cpu", site="hq")
    provision_device("yard-1", hardware_profile="x86-cpu", site="lab", tags=["beta"])


@pytest.mark.usefixtures("fleet")
def test_devices_are_listed_by_filter() -> None:
    def ids(*args: str) -> list[str]:
        return [row["id"] for row in run_json("devices", "list", *args)]

    assert ids() == ["gate-1", "gate-2", "yard-1"]
    assert ids("--site", "hq", "--tag", "beta") == ["gate-1"]
    assert ids("--hardware", "x86-cpu") == ["gate-2", "yard-1"]
    assert ids("--health", "offline") == ["gate-1", "gate-2", "yard-1"]
    row = run_json("devices", "list", "--site", "lab")[0]
    assert row["tags"] == ["beta"]
    assert row["health"] == "offline"
    text = run("devices", "list", "--site", "lab")
    assert text.split() == ["yard-1", "lab", "x86-cpu", "-", "offline", "beta"]
    assert run("devices", "list", "--tag", "nothing").strip() == "no devices match"


@pytest.mark.usefixtures("fleet")
def test_a_device_is_shown_with_cameras_groups_and_credentials(accounts: MemoryAccounts) -> None:
    run("devices", "add-camera", "gate-1", "door", "--name", "Front door")
    run("groups", "add", "hq", "entrances")
    run("groups", "assign", "hq", "entrances", "gate-1/door")
    issue_token("gate-1")
    accounts.put_device("gate-1", "hq", "pw")
    shown = run_json("devices", "show", "gate-1")
    assert shown["cameras"] == [{"id": "door", "name": "Front door", "groups": ["entrances"]}]
    assert shown["credentials"]["active_tokens"] == 1
    assert shown["credentials"]["broker_account"] is True
    assert "broker account: present" in run("devices", "show", "gate-1")
    assert run_json("groups", "list") == [
        {"site": "hq", "name": "entrances", "cameras": ["gate-1/door"]}
    ]
    with pytest.raises(CommandError, match="'ghost' is not provisioned"):
        run("devices", "show", "ghost")


@pytest.mark.usefixtures("fleet")
def test_revoke_takes_both_credentials_and_reports_what_it_took(accounts: MemoryAccounts) -> None:
    issue_token("gate-1")
    issue_token("gate-1")
    accounts.put_device("gate-1", "hq", "pw")
    assert run_json("devices", "revoke", "gate-1") == {
        "device_id": "gate-1",
        "tokens_revoked": 2,
        "broker_account_deleted": True,
    }
    assert revocation.credential_state("gate-1", accounts).broker_account is False
    accounts.down = True
    with pytest.raises(CommandError, match="revoke again once the broker answers"):
        run("devices", "revoke", "gate-1")


@pytest.mark.usefixtures("fleet")
def test_revoke_without_broker_settings_says_which_to_set(settings: Any) -> None:
    settings.MQTT_ACCOUNTS = {**settings.MQTT_ACCOUNTS, "host": "", "username": ""}
    with pytest.raises(CommandError, match="SIGHTLINE_CLOUD_MQTT_HOST"):
        run("devices", "revoke", "gate-1")


@pytest.mark.usefixtures("fleet")
def test_tags_groups_and_edits() -> None:
    assert run("tags", "add", "door", "gate-1", "gate-2").strip() == "door: on 2 more device(s)"
    run("tags", "remove", "beta", "gate-1")
    assert {"tag": "beta", "devices": 1} in run_json("tags", "list")
    with pytest.raises(CommandError, match="not provisioned: ghost"):
        run("tags", "add", "door", "ghost")
    run("devices", "edit", "gate-2", "--name", "Gate 2", "--hardware", "x86-gpu")
    assert run_json("devices", "show", "gate-2")["hardware_profile"] == "x86-gpu"
    with pytest.raises(CommandError, match="DEVICE/CAMERA"):
        run("groups", "assign", "hq", "entrances", "gate-1")
    with pytest.raises(CommandError, match="no camera group"):
        run("groups", "assign", "hq", "entrances", "gate-1/door")


def test_every_verb_has_help() -> None:
    for noun, verbs in [
        ("devices", ["list", "show", "enrol", "revoke", "edit", "add-camera"]),
        ("sites", ["add", "list"]),
        ("groups", ["add", "list", "assign"]),
        ("tags", ["list", "add", "remove"]),
    ]:
        with pytest.raises(CommandError, match="invalid choice"):
            run(noun, "nonsense")
        for verb in verbs:
            with pytest.raises(SystemExit) as exited:
                call_command(noun, verb, "--help", stdout=StringIO())
            assert exited.value.code == 0
