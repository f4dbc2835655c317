from __future__ import annotations

import pytest
from django.db import OperationalError
from django.test import Client


@pytest.mark.django_db
def test_it_reports_ready_when_the_database_answers(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_it_reports_alive_without_touching_the_database(client: Client) -> None:
    # No django_db mark: any query here would fail the test.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_it_reports_unready_when_the_database_fails(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr("django.db.backends.base.base.BaseDatabaseWrapper.cursor", refuse)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


def test_it_answers_probes_that_use_the_pod_ip_as_host(client: Client) -> None:
    response = client.get("/healthz", HTTP_HOST="10.42.0.17:8000")
    assert response.status_code == 200


def test_it_still_rejects_unknown_hosts_elsewhere(client: Client) -> None:
    response = client.get("/login/", HTTP_HOST="10.42.0.17:8000")
    assert response.status_code == 400
