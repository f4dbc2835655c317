"""The enrolment token's life: made, exchanged once for credentials, refused when wrong, spent
or expired, and never half-spent when the broker is down. Revocation of both credentials."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from cloud.errors import InvalidInput, NotFound
from cloud.fleet import api, enrolment, registry
from cloud.fleet.broker import BrokerAccountError
from cloud.fleet.enrolment import (
    BrokerUnavailable,
    DeviceExists,
    TokenSpent,
    UnknownToken,
    create_enrolment,
    exchange,
)
from cloud.fleet.models import Device, Enrolment
from cloud.fleet.revocation import credential_state, revoke_device
from cloud.ingest.credentials import authenticate_token
from cloud.ingest.models import DeviceCredential
from tests.cloud.fleet.accounts import MemoryAccounts

pytestmark = pytest.mark.django_db


@pytest.fixture
def site() -> str:
    registry.save_site("hq", name="Head office")
    return "hq"


@pytest.fixture
def accounts() -> MemoryAccounts:
    return MemoryAccounts()


def made_nothing() -> None:
    assert not Device.objects.exists()
    assert not DeviceCredential.objects.exists()


def test_a_token_is_exchanged_once_for_both_credentials(
    site: str, accounts: MemoryAccounts
) -> None:
    issued = create_enrolment(
        site=site, hardware_profile="jetson-xavier", device_id="gate-1", tags=["beta", "door"]
    )
    # Only the digest and a hint are kept.
    stored = Enrolment.objects.get()
    assert issued.token not in (stored.token_sha256, stored.hint)
    assert issued.token.startswith(stored.hint)

    credentials = exchange(issued.token, accounts)

    assert (credentials.device_id, credentials.site) == ("gate-1", "hq")
    assert authenticate_token(credentials.ingest_token) == "gate-1"
    assert accounts.accounts == {"gate-1": ("hq", credentials.mqtt_password)}
    device = Device.objects.get()
    assert (device.site_id, device.hardware_profile) == ("hq", "jetson-xavier")
    assert sorted(device.tags.values_list("id", flat=True)) == ["beta", "door"]
    stored.refresh_from_db()
    assert stored.used_at is not None
    assert stored.enrolled_id == "gate-1"

    with pytest.raises(TokenSpent, match="was used"):
        exchange(issued.token, accounts)
    assert DeviceCredential.objects.count() == 1


def test_the_device_may_name_itself_unless_the_enrolment_did(
    site: str, accounts: MemoryAccounts
) -> None:
    free = create_enrolment(site=site, hardware_profile="x86-cpu")
    assert exchange(free.token, accounts, device_id="yard-2").device_id == "yard-2"
    fixed = create_enrolment(site=site, hardware_profile="x86-cpu", device_id="yard-3")
    with pytest.raises(InvalidInput, match="for 'yard-3'"):
        exchange(fixed.token, accounts, device_id="other")
    bad = create_enrolment(site=site, hardware_profile="x86-cpu")
    with pytest.raises(InvalidInput, match="device_id"):
        exchange(bad.token, accounts, device_id="no/slash")
    picked = exchange(create_enrolment(site=site, hardware_profile="x86-cpu").token, accounts)
    assert picked.device_id.startswith("hq-")
    # The refused ones were not spent.
    assert exchange(fixed.token, accounts).device_id == "yard-3"
    assert exchange(bad.token, accounts, device_id="yard-4").device_id == "yard-4"


def test_a_wrong_or_expired_token_makes_nothing(site: str, accounts: MemoryAccounts) -> None:
    with pytest.raises(UnknownToken):
        exchange("not-a-token", accounts)
    issued = create_enrolment(site=site, hardware_profile="x86-cpu")
    Enrolment.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(TokenSpent, match="expired"):
        exchange(issued.token, accounts)
    made_nothing()
    assert accounts.accounts == {}


def test_a_broker_that_is_down_leaves_no_half_device_and_the_token_good(
    site: str, accounts: MemoryAccounts
) -> None:
    issued = create_enrolment(site=site, hardware_profile="x86-cpu", device_id="gate-1")
    accounts.down = True
    with pytest.raises(BrokerUnavailable, match="cannot reach the broker"):
        exchange(issued.token, accounts)
    made_nothing()
    assert Enrolment.objects.get().used_at is None
    accounts.down = False
    assert exchange(issued.token, accounts).device_id == "gate-1"


def test_an_enrolment_for_a_taken_id_is_refused(site: str, accounts: MemoryAccounts) -> None:
    issued = create_enrolment(site=site, hardware_profile="x86-cpu", device_id="gate-1")
    exchange(
        create_enrolment(site=site, hardware_profile="x86-cpu").token, accounts, device_id="gate-1"
    )
    with pytest.raises(DeviceExists):
        exchange(issued.token, accounts)
    assert Enrolment.objects.get(pk=issued.enrolment.pk).used_at is None
    with pytest.raises(InvalidInput, match="already provisioned"):
        create_enrolment(site=site, hardware_profile="x86-cpu", device_id="gate-1")


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"site": "nowhere"}, NotFound),
        ({"hardware_profile": "raspberry-pi"}, InvalidInput),
        ({"device_id": "a b"}, InvalidInput),
        ({"tags": ["no/tag"]}, InvalidInput),
        ({"ttl": timedelta(0)}, InvalidInput),
        ({"ttl": timedelta(days=31)}, InvalidInput),
    ],
)
def test_a_bad_enrolment_is_refused(site: str, fields: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        create_enrolment(**{"site": site, "hardware_profile": "x86-cpu", **fields})
    assert not Enrolment.objects.exists()


def test_revoking_takes_away_every_token_and_the_broker_account(
    site: str, accounts: MemoryAccounts
) -> None:
    credentials = exchange(create_enrolment(site=site, hardware_profile="x86-cpu").token, accounts)
    device_id = credentials.device_id
    state = credential_state(device_id, accounts)
    assert (state.active_tokens, state.broker_account) == (1, True)

    revoked = revoke_device(device_id, accounts)

    assert (revoked.tokens, revoked.broker_account) == (1, True)
    with pytest.raises(NotFound):
        authenticate_token(credentials.ingest_token)
    state = credential_state(device_id, accounts)
    assert (state.active_tokens, state.revoked_tokens, state.broker_account) == (0, 1, False)
    # Again: nothing left to take, and no error.
    assert revoke_device(device_id, accounts).tokens == 0
    with pytest.raises(NotFound):
        revoke_device("ghost", accounts)


def test_a_revocation_the_broker_could_not_finish_says_so(
    site: str, accounts: MemoryAccounts
) -> None:
    device_id = exchange(
        create_enrolment(site=site, hardware_profile="x86-cpu").token, accounts
    ).device_id
    accounts.down = True
    with pytest.raises(BrokerAccountError, match="revoke again once the broker answers"):
        revoke_device(device_id, accounts)
    assert credential_state(device_id, None).active_tokens == 0
    state = credential_state(device_id, accounts)
    assert state.broker_account is None
    assert "cannot reach" in state.broker_error


# The HTTP endpoint ---------------------------------------------------------------------------


@pytest.fixture
def endpoint(accounts: MemoryAccounts, monkeypatch: pytest.MonkeyPatch) -> MemoryAccounts:
    """The endpoint with the in-memory accounts in place of the configured broker."""
    monkeypatch.setattr(api, "accounts_from_settings", lambda: accounts)
    return accounts


def post(client: Client, body: Any = None, **headers: str) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
    response = client.post("/api/v1/enrol", data, content_type="application/json", headers=headers)
    return response.status_code, response.json()


def test_the_endpoint_takes_the_token_from_the_body_or_the_header(
    site: str, endpoint: MemoryAccounts
) -> None:
    # A client of its own with CSRF checks on, as a device would post: no session, no cookie.
    client = Client(enforce_csrf_checks=True)
    first = create_enrolment(site=site, hardware_profile="x86-cpu", device_id="gate-1").token
    status, body = post(client, {"token": first})
    assert status == 201
    assert body["device_id"] == "gate-1"
    assert body["mqtt"]["username"] == body["mqtt"]["client_id"] == "gate-1"
    assert authenticate_token(body["ingest"]["token"]) == "gate-1"
    assert endpoint.accounts["gate-1"] == ("hq", body["mqtt"]["password"])

    second = create_enrolment(site=site, hardware_profile="x86-cpu").token
    status, body = post(client, {"device_id": "gate-2"}, Authorization=f"Bearer {second}")
    assert (status, body["device_id"]) == (201, "gate-2")

    status, body = post(client, {"token": first})
    assert status == 410
    assert "was used" in body["error"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "error"),
    [
        ({"token": "wrong"}, {}, 401, "unknown enrolment token"),
        ({}, {}, 400, "send the token"),
        (b"not json", {}, 400, "not JSON"),
        ({"token": 5}, {}, 400, "JSON object of strings"),
        ({}, {"Authorization": "Basic abc"}, 400, "Bearer"),
        ({"token": "a"}, {"Authorization": "Bearer b"}, 400, "different tokens"),
    ],
)
def test_the_endpoint_refuses_bad_requests_clearly(
    site: str,
    endpoint: MemoryAccounts,
    client: Client,
    body: Any,
    headers: dict[str, str],
    status: int,
    error: str,
) -> None:
    got_status, got = post(client, body, **headers)
    assert got_status == status
    assert error in got["error"]
    made_nothing()


def test_the_endpoint_answers_503_and_keeps_the_token_when_the_broker_is_down(
    site: str, endpoint: MemoryAccounts, client: Client
) -> None:
    token = create_enrolment(site=site, hardware_profile="x86-cpu").token
    endpoint.down = True
    status, body = post(client, {"token": token})
    assert status == 503
    assert "the broker account could not be made: cannot reach" in body["error"]
    made_nothing()
    endpoint.down = False
    assert post(client, {"token": token})[0] == 201


def test_the_endpoint_answers_503_when_broker_admin_is_not_configured(
    site: str, client: Client, settings: Any
) -> None:
    settings.MQTT_ACCOUNTS = {**settings.MQTT_ACCOUNTS, "host": "", "username": ""}
    token = create_enrolment(site=site, hardware_profile="x86-cpu").token
    status, body = post(client, {"token": token})
    assert (status, body["error"]) == (
        503,
        "the cloud cannot make broker accounts now; try again later",
    )
    assert Enrolment.objects.get().used_at is None


def test_the_endpoint_takes_posts_only(client: Client) -> None:
    assert client.get("/api/v1/enrol").status_code == 405


def test_pending_enrolments_leave_out_used_and_expired_ones(
    site: str, accounts: MemoryAccounts
) -> None:
    waiting = create_enrolment(site=site, hardware_profile="x86-cpu")
    exchange(create_enrolment(site=site, hardware_profile="x86-cpu").token, accounts)
    create_enrolment(site=site, hardware_profile="x86-cpu", ttl=timedelta(seconds=1))
    later = timezone.now() + timedelta(seconds=2)
    assert [e.pk for e in enrolment.pending_enrolments(now=later)] == [waiting.enrolment.pk]
