"""`LocalObjectStore` details beyond the shared contract: files, atomicity, presigned URLs."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from cloud.lib.objectstore import ObjectStoreUnavailable, PresignedUrlExpired, PresignedUrlInvalid
from cloud.lib.objectstore.local import LocalObjectStore, LocalObjectStoreSettings

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
KEY = "crops/dev-1/cam-1/2026/11/21/0193a1b2.jpg"


def settings(root: Path, **changes: object) -> LocalObjectStoreSettings:
    fields: dict[str, object] = {"type": "local", "root": root, "url_signing_key": "s" * 32}
    return LocalObjectStoreSettings.model_validate(fields | changes)


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    store = LocalObjectStore(settings(tmp_path), clock=lambda: NOW)
    store.ensure_bucket()
    return store


def url_parts(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return parts.path, query["exp"][0], query["sig"][0]


def test_it_keeps_bytes_and_a_json_sidecar_under_objects(
    store: LocalObjectStore, tmp_path: Path
) -> None:
    store.put(KEY, b"jpeg bytes", "image/jpeg", {"Track-Id": "7"})

    directory = tmp_path / "objects/crops/dev-1/cam-1/2026/11/21"
    assert sorted(path.name for path in directory.iterdir()) == [
        "0193a1b2.jpg@data",
        "0193a1b2.jpg@meta.json",
    ]
    assert (directory / "0193a1b2.jpg@data").read_bytes() == b"jpeg bytes"
    sidecar = json.loads((directory / "0193a1b2.jpg@meta.json").read_text())
    assert sidecar["content_type"] == "image/jpeg"
    assert sidecar["metadata"] == {"track-id": "7"}
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_failed_write_leaves_the_old_object_and_no_temporary_file(
    store: LocalObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put(KEY, b"old", "image/jpeg")

    def disk_fails(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", disk_fails)
    with pytest.raises(ObjectStoreUnavailable, match="Input/output error"):
        store.put(KEY, b"new", "image/png")
    monkeypatch.undo()

    assert store.get(KEY) == b"old"
    assert store.stat(KEY).content_type == "image/jpeg"
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_put_syncs_the_directories_whose_entries_it_changed(
    store: LocalObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rename or a new directory is durable only once the directory holding the entry is
    # fsynced; without that, a power cut after put returned can lose the object.
    store.put("crops/dev-1/other.jpg", b"first", "image/jpeg")
    real_fsync = os.fsync
    synced: list[tuple[Path, bool]] = []  # (directory, whether the object was in place)
    objects = tmp_path / "objects"
    data_file = objects / "crops/dev-1/cam-1/2026/11/21/0193a1b2.jpg@data"

    def observe(fd: int) -> None:
        link = Path(f"/proc/self/fd/{fd}")
        if link.is_dir():
            synced.append((link.readlink(), data_file.exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", observe)
    store.put(KEY, b"jpeg bytes", "image/jpeg")

    # The parent of each directory the put created, then the object's own directory.
    assert synced == [
        (objects / "crops/dev-1", False),
        (objects / "crops/dev-1/cam-1", False),
        (objects / "crops/dev-1/cam-1/2026", False),
        (objects / "crops/dev-1/cam-1/2026/11", False),
        (objects / "crops/dev-1/cam-1/2026/11/21", True),
    ]


def test_presigned_url_is_a_signed_relative_path(store: LocalObjectStore) -> None:
    url = store.presigned_get_url(KEY, timedelta(minutes=10))

    path, exp, sig = url_parts(url)
    assert path == f"/objects/{KEY}"
    assert int(exp) == int((NOW + timedelta(minutes=10)).timestamp())
    assert len(sig) == 64
    store.verify_presigned(KEY, exp, sig)


def test_presigned_url_uses_the_configured_prefix(tmp_path: Path) -> None:
    store = LocalObjectStore(settings(tmp_path, url_prefix="https://cdn.example.com/media"))

    assert store.presigned_get_url(KEY, timedelta(minutes=1)).startswith(
        f"https://cdn.example.com/media/{KEY}?exp="
    )


def test_verify_refuses_an_expired_url(store: LocalObjectStore, tmp_path: Path) -> None:
    _, exp, sig = url_parts(store.presigned_get_url(KEY, timedelta(seconds=30)))
    later = LocalObjectStore(settings(tmp_path), clock=lambda: NOW + timedelta(seconds=31))

    with pytest.raises(PresignedUrlExpired, match="expired"):
        later.verify_presigned(KEY, exp, sig)


def test_verify_refuses_a_url_signed_with_another_key(tmp_path: Path) -> None:
    other = LocalObjectStore(settings(tmp_path, url_signing_key="o" * 32), clock=lambda: NOW)
    store = LocalObjectStore(settings(tmp_path), clock=lambda: NOW)
    _, exp, sig = url_parts(other.presigned_get_url(KEY, timedelta(minutes=1)))

    with pytest.raises(PresignedUrlInvalid, match="signature"):
        store.verify_presigned(KEY, exp, sig)


@pytest.mark.parametrize(
    ("key", "exp", "sig", "reason"),
    [
        ("crops/other.jpg", None, None, "signature"),
        (KEY, "later", None, "malformed"),
        (KEY, "", None, "malformed"),
        (KEY, None, "", "malformed"),
        (KEY, None, "Z" * 64, "malformed"),
        ("../../etc/passwd", None, None, "invalid key"),
    ],
)
def test_verify_refuses_tampered_or_malformed_parts(
    store: LocalObjectStore, key: str, exp: str | None, sig: str | None, reason: str
) -> None:
    _, good_exp, good_sig = url_parts(store.presigned_get_url(KEY, timedelta(minutes=1)))

    exp = good_exp if exp is None else exp
    sig = good_sig if sig is None else sig

    with pytest.raises(PresignedUrlInvalid, match=reason):
        store.verify_presigned(key, exp, sig)


def test_a_later_expiry_with_the_old_signature_is_refused(store: LocalObjectStore) -> None:
    _, exp, sig = url_parts(store.presigned_get_url(KEY, timedelta(minutes=1)))

    with pytest.raises(PresignedUrlInvalid, match="signature"):
        store.verify_presigned(KEY, str(int(exp) + 3600), sig)


@pytest.mark.parametrize(
    ("field_name", "value", "message"),
    [
        ("url_signing_key", "short", "at least 32"),
        ("url_prefix", "objects", "should match pattern"),
        ("url_prefix", "/objects/", "should match pattern"),
        ("type", "s3", "Input should be 'local'"),
        ("bucket", "crops", "Extra inputs are not permitted"),
    ],
)
def test_settings_reject_bad_values(
    tmp_path: Path, field_name: str, value: object, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(tmp_path, **{field_name: value})


def test_settings_hide_the_signing_key(tmp_path: Path) -> None:
    assert "s" * 32 not in repr(settings(tmp_path))
