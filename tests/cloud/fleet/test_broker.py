from __future__ import annotations

import pytest

from cloud.fleet.broker import BrokerAccountError, bridge_acls, device_acls, new_password


def allowed(acls: list[dict[str, object]], acltype: str) -> set[object]:
    assert all(acl["allow"] is True for acl in acls)
    return {acl["topic"] for acl in acls if acl["acltype"] == acltype}


def test_a_device_writes_only_its_own_state_under_its_site_and_reads_its_downstream() -> None:
    acls = device_acls("sightline", "lobby", "box-7")
    base = "sightline/v1/lobby/box-7"
    assert allowed(acls, "publishClientSend") == {
        f"{base}/status",
        f"{base}/metrics",
        f"{base}/reported",
        f"{base}/cmd/+/result",
    }
    assert allowed(acls, "subscribePattern") == {f"{base}/desired", f"{base}/cmd/+"}
    assert allowed(acls, "publishClientReceive") == {f"{base}/desired", f"{base}/cmd/+"}


def test_a_bridge_reads_every_upstream_leaf_of_its_sites_and_writes_their_downstream() -> None:
    acls = bridge_acls("sightline", ["hq"])
    assert allowed(acls, "publishClientSend") == {
        "sightline/v1/hq/+/desired",
        "sightline/v1/hq/+/cmd/+",
        "sightline/alerts/+",  # alerts' notifications (cloud.alerts.publisher)
    }
    assert "sightline/v1/hq/+/status" in allowed(acls, "subscribePattern")
    assert allowed(acls, "subscribePattern") == allowed(acls, "publishClientReceive")
    assert "sightline/v1/+/+/status" in allowed(bridge_acls("sightline"), "subscribePattern")


@pytest.mark.parametrize("site", ["a/b", "+", "#", ""])
def test_levels_that_would_widen_a_topic_are_refused(site: str) -> None:
    with pytest.raises(ValueError, match="site"):
        device_acls("sightline", site, "box-7")


def test_passwords_are_long_and_new_each_time() -> None:
    assert len(new_password()) >= 32
    assert new_password() != new_password()


def test_the_account_api_refuses_names_outside_the_grammar() -> None:
    from pydantic import SecretStr

    from cloud.fleet.broker import BrokerAdminSettings, MosquittoAccounts

    accounts = MosquittoAccounts(
        BrokerAdminSettings(host="127.0.0.1", username="admin", password=SecretStr("x"))
    )
    with pytest.raises(BrokerAccountError, match="device_id"):
        accounts.put_device("box/7", "lobby", "pw")
