from __future__ import annotations

import hashlib

import pytest
from django.core.management import call_command

from cloud.errors import NotFound
from cloud.fleet.models import Device
from cloud.ingest.auth import bearer_token
from cloud.ingest.credentials import authenticate_token, issue_token, revoke_tokens
from cloud.ingest.errors import Unauthenticated
from cloud.ingest.models import DeviceCredential


def test_it_keeps_only_a_digest_of_the_token(provisioned_device: Device) -> None:
    token = issue_token(provisioned_device.id)
    credential = DeviceCredential.objects.get()
    assert credential.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {credential.token_sha256, credential.hint}
    assert token.startswith(credential.hint)
    assert len(token) >= 43


def test_a_token_authenticates_its_device(provisioned_device: Device) -> None:
    assert authenticate_token(issue_token(provisioned_device.id)) == provisioned_device.id


def test_an_unknown_token_authenticates_nobody(provisioned_device: Device) -> None:
    issue_token(provisioned_device.id)
    with pytest.raises(NotFound):
        authenticate_token("guessed")


def test_rotation_revokes_the_earlier_tokens(provisioned_device: Device) -> None:
    old = issue_token(provisioned_device.id)
    new = issue_token(provisioned_device.id, revoke_others=True)
    assert authenticate_token(new) == provisioned_device.id
    with pytest.raises(NotFound):
        authenticate_token(old)


def test_revoking_counts_the_active_tokens(provisioned_device: Device) -> None:
    issue_token(provisioned_device.id)
    issue_token(provisioned_device.id)
    assert revoke_tokens(provisioned_device.id) == 2
    assert revoke_tokens(provisioned_device.id) == 0


def test_only_provisioned_devices_get_tokens(db: None) -> None:
    with pytest.raises(NotFound):
        issue_token("ghost-01")
    assert not DeviceCredential.objects.exists()


def test_the_command_prints_a_working_token(
    provisioned_device: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("device_token", provisioned_device.id)
    token = capsys.readouterr().out.strip()
    assert authenticate_token(token) == provisioned_device.id
    call_command("device_token", provisioned_device.id, "--revoke")
    assert "revoked 1 tokens" in capsys.readouterr().out
    with pytest.raises(NotFound):
        authenticate_token(token)


@pytest.mark.parametrize(
    ("metadata", "token"),
    [
        ((("authorization", "Bearer abc"),), "abc"),
        ((("authorization", "bearer  abc "),), "abc"),
        ((("x-other", "1"), ("authorization", "Bearer abc")), "abc"),
    ],
)
def test_it_reads_the_bearer_token(metadata: tuple[tuple[str, str], ...], token: str) -> None:
    assert bearer_token(metadata) == token


@pytest.mark.parametrize(
    "metadata",
    [
        None,
        (),
        (("authorization", "Bearer "),),
        (("authorization", "Token abc"),),
        (("authorization", "Bearer a"), ("authorization", "Bearer b")),
    ],
)
def test_it_refuses_anything_but_one_bearer_token(
    metadata: tuple[tuple[str, str], ...] | None,
) -> None:
    with pytest.raises(Unauthenticated):
        bearer_token(metadata)
