"""The settings module, loaded afresh under different environments (no Django reload needed)."""

from __future__ import annotations

import json
import logging
import os
import runpy
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ImproperlyConfigured
from pythonjsonlogger.json import JsonFormatter

import cloud.settings
from cloud.embeddings.spec import CROP_VECTOR_COLLECTION
from cloud.lib.objectstore import PresignedUrlInvalid
from cloud.lib.objectstore.local import LocalObjectStore, LocalObjectStoreSettings
from cloud.lib.vectorstore import parse_settings

# Run by path: re-running the imported module by name would alias the live settings module.
SETTINGS_FILE = cloud.settings.__file__

PRODUCTION = {
    "SECRET_KEY": "a-production-secret-key-of-reasonable-length-42",
    "ALLOWED_HOSTS": "sightline.example.com",
    "DATABASE_URL": "postgresql://sightline:pw@db:5432/sightline",
    "CELERY_BROKER_URL": "redis://redis:6379/0",
}


def load_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    """Run cloud/settings.py with exactly the given SIGHTLINE_CLOUD_* variables."""
    for name in list(os.environ):
        if name.startswith("SIGHTLINE_CLOUD_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(f"SIGHTLINE_CLOUD_{name}", value)
    return runpy.run_path(SETTINGS_FILE)


def test_it_requires_a_secret_key_outside_debug_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ImproperlyConfigured, match="SIGHTLINE_CLOUD_SECRET_KEY is required"):
        load_settings(monkeypatch)


def test_it_runs_without_any_server_in_debug_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = load_settings(monkeypatch, DEBUG="true", DATA_DIR=str(tmp_path))
    assert settings["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings["DATABASES"]["default"]["NAME"] == str(tmp_path / "cloud.sqlite3")
    assert settings["CELERY_BROKER_URL"] == "memory://"
    assert settings["OBJECT_STORE"]["type"] == "local"
    assert settings["OBJECT_STORE"]["root"] == tmp_path / "objects"
    assert settings["VECTOR_STORE"] == {
        "type": "embedded",
        "path": tmp_path / "vectors.sqlite3",
        "collection": CROP_VECTOR_COLLECTION,
    }
    assert not any(tmp_path.iterdir()), "loading settings must not create files"


def test_it_reads_production_services_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings(
        monkeypatch,
        **PRODUCTION,
        OBJECT_STORE="s3",
        S3_ENDPOINT="minio:9000",
        S3_BUCKET="sightline",
        S3_ACCESS_KEY="sightline",
        S3_SECRET_KEY="minio-secret",
        S3_SECURE="false",
        VECTOR_STORE="weaviate",
        WEAVIATE_URL="http://weaviate:8080",
    )
    assert settings["DEBUG"] is False
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["DATABASES"]["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert settings["CELERY_RESULT_BACKEND"] == "redis://redis:6379/0"
    assert settings["OBJECT_STORE"] == {
        "type": "s3",
        "endpoint": "minio:9000",
        "bucket": "sightline",
        "access_key": "sightline",
        "secret_key": "minio-secret",
        "secure": False,
        "region": "us-east-1",
        "max_connections": 32,
    }
    assert settings["VECTOR_STORE"] == {
        "type": "weaviate",
        "url": "http://weaviate:8080",
        "grpc_port": 50051,
        "api_key": "",
        "collection": CROP_VECTOR_COLLECTION,
    }


def test_the_vectors_go_to_the_collection_of_this_embedding_unless_one_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The 1280-d vectors of the previous embedding were in "Detection": never mixed with these.
    assert CROP_VECTOR_COLLECTION != "Detection"
    named = load_settings(
        monkeypatch, DEBUG="true", DATA_DIR=str(tmp_path), VECTOR_STORE_COLLECTION="Test_1"
    )
    assert named["VECTOR_STORE"]["collection"] == "Test_1"


def test_the_mqtt_connections_take_a_client_certificate(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(
        monkeypatch,
        **PRODUCTION,
        MQTT_HOST="broker",
        MQTT_TLS="true",
        MQTT_CA_FILE="/etc/sightline/ca.pem",
        MQTT_CERT_FILE="/etc/sightline/bridge.crt",
        MQTT_KEY_FILE="/etc/sightline/bridge.key",
    )
    tls = {
        "tls": True,
        "ca_file": "/etc/sightline/ca.pem",
        "cert_file": "/etc/sightline/bridge.crt",
        "key_file": "/etc/sightline/bridge.key",
    }
    # The bridge and the account API reach the same broker the same way.
    for name in ("MQTT_BRIDGE", "MQTT_ACCOUNTS"):
        assert {key: settings[name][key] for key in tls} == tls


def test_it_requires_the_parameters_of_the_chosen_object_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ImproperlyConfigured, match="SIGHTLINE_CLOUD_S3_ENDPOINT is required"):
        load_settings(monkeypatch, **PRODUCTION, OBJECT_STORE="s3")


def local_store(object_store: dict[str, Any], root: Path) -> LocalObjectStore:
    settings = LocalObjectStoreSettings.model_validate(object_store | {"root": root})
    store = LocalObjectStore(settings)
    store.ensure_bucket()
    return store


def test_object_urls_are_not_signed_with_the_secret_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Whoever learns the URL key (it signs links handed to browsers) must not learn the key
    # that signs sessions; by default a key is derived from the secret key, one way.
    settings = load_settings(monkeypatch, **PRODUCTION)
    store = local_store(settings["OBJECT_STORE"], tmp_path)
    forger = local_store(
        settings["OBJECT_STORE"] | {"url_signing_key": PRODUCTION["SECRET_KEY"]}, tmp_path
    )
    key = "crops/gate-01/lobby/2026/11/21/01935f1e-7c4a-7d2e-9b1a-3c5d7e9f1a2b.jpg"
    forged = parse_qs(urlsplit(forger.presigned_get_url(key, timedelta(minutes=5))).query)
    with pytest.raises(PresignedUrlInvalid, match="signature"):
        store.verify_presigned(key, forged["exp"][0], forged["sig"][0])
    genuine = parse_qs(urlsplit(store.presigned_get_url(key, timedelta(minutes=5))).query)
    store.verify_presigned(key, genuine["exp"][0], genuine["sig"][0])
    # The derived key is stable, so URLs stay valid across restarts and replicas.
    again = load_settings(monkeypatch, **PRODUCTION)["OBJECT_STORE"]["url_signing_key"]
    assert again == settings["OBJECT_STORE"]["url_signing_key"]


def test_object_urls_take_their_own_key_from_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "url-key"
    key_file.write_text("u" * 40 + "\n", encoding="utf-8")
    settings = load_settings(
        monkeypatch, **PRODUCTION, OBJECT_STORE_URL_SIGNING_KEY_FILE=str(key_file)
    )
    assert settings["OBJECT_STORE"]["url_signing_key"] == "u" * 40


def test_it_refuses_the_secret_key_as_the_object_url_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ImproperlyConfigured, match="URL_SIGNING_KEY must differ"):
        load_settings(
            monkeypatch, **PRODUCTION, OBJECT_STORE_URL_SIGNING_KEY=PRODUCTION["SECRET_KEY"]
        )


def test_it_rejects_a_hard_time_limit_below_the_soft_one(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ImproperlyConfigured, match="SOFT_TIME_LIMIT < "):
        load_settings(
            monkeypatch, **PRODUCTION, CELERY_TASK_TIME_LIMIT="60", CELERY_TASK_SOFT_TIME_LIMIT="90"
        )


def test_the_visibility_timeout_follows_the_hard_time_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings(
        monkeypatch, **PRODUCTION, CELERY_TASK_TIME_LIMIT="90", CELERY_TASK_SOFT_TIME_LIMIT="60"
    )
    assert settings["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"] == 120
    chosen = load_settings(monkeypatch, **PRODUCTION, CELERY_VISIBILITY_TIMEOUT="900")
    assert chosen["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"] == 900


def test_it_rejects_a_visibility_timeout_within_the_hard_time_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A task still running when the broker redelivers it would run twice at once.
    with pytest.raises(ImproperlyConfigured, match="TIME_LIMIT < SIGHTLINE_CLOUD_CELERY_VISIB"):
        load_settings(monkeypatch, **PRODUCTION, CELERY_VISIBILITY_TIMEOUT="300")


def test_it_logs_json_lines_with_extra_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(monkeypatch, **PRODUCTION, LOG_FORMAT="json")
    logging_config = settings["LOGGING"]
    assert logging_config["handlers"]["console"]["formatter"] == "json"
    formatter = JsonFormatter(logging_config["formatters"]["json"]["format"])
    record = logging.LogRecord(
        "cloud.ingest", logging.INFO, __file__, 1, "stored crop %s", ("c1",), None
    )
    record.device_id = "gate-01"
    line = json.loads(formatter.format(record))
    assert line["message"] == "stored crop c1"
    assert line["levelname"] == "INFO"
    assert line["device_id"] == "gate-01"


@pytest.mark.parametrize("rate", ["30", "0/s", "30/week", "fast"])
def test_it_rejects_an_api_rate_it_cannot_read(monkeypatch: pytest.MonkeyPatch, rate: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="SIGHTLINE_CLOUD_API_RATE"):
        load_settings(monkeypatch, **PRODUCTION, API_RATE=rate)


def test_logins_lock_out_after_the_configured_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(
        monkeypatch, **PRODUCTION, LOGIN_FAILURE_LIMIT="3", LOGIN_LOCKOUT_MINUTES="60"
    )
    assert settings["AXES_FAILURE_LIMIT"] == 3
    assert settings["AXES_COOLOFF_TIME"] == timedelta(hours=1)


@pytest.mark.parametrize(("backend", "key"), [("embedded", "ef_search"), ("weaviate", "ef")])
def test_the_vector_index_accuracy_is_set_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, backend: str, key: str
) -> None:
    env = {"DEBUG": "true", "DATA_DIR": str(tmp_path), "VECTOR_STORE": backend}
    if backend == "weaviate":
        env["WEAVIATE_URL"] = "http://127.0.0.1:8080"
    settings = load_settings(
        monkeypatch, **env, VECTOR_STORE_EF="512", VECTOR_STORE_FLAT_SEARCH_CUTOFF="5000"
    )
    parsed = parse_settings(settings["VECTOR_STORE"])
    assert getattr(parsed, key) == 512
    assert parsed.flat_search_cutoff == 5000
