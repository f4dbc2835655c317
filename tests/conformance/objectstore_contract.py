"""The contract every `ObjectStore` backend passes (the haystack document-store pattern).

A backend's test class subclasses `ObjectStoreContract` and provides:

- a `fresh_settings` fixture: settings of a store whose bucket (or root directory) does not
  exist yet, with ``max_object_bytes=OBJECT_LIMIT``; the fixture removes everything afterwards;
- `fetch_presigned(store, url)`: what a client holding the URL gets, as (HTTP status, body).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloud.lib.objectstore import (
    BucketNotFound,
    InvalidObjectRequest,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreSettings,
    ObjectTooLarge,
    create_object_store,
    crop_key,
)
from cloud.lib.objectstore.base import utc_now
from cloud.lib.objectstore.keys import crop_day_prefix

OBJECT_LIMIT = 8 * 1024 * 1024
"""The ``max_object_bytes`` that `fresh_settings` must set: large enough for S3 multipart."""

# A real photo (person, bus, car) from Debian's labelme-examples, installed by tests/run.sh.
PHOTO = Path(
    "/usr/share/doc/labelme-examples/examples/bbox_detection/data_dataset_voc/"
    "JPEGImages/2011_000003.jpg"
)
CAPTURED = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)
LIFETIME = timedelta(minutes=5)


class ObjectStoreContract:
    """Behaviour shared by all backends; see the module docstring for what subclasses add."""

    @pytest.fixture
    def fresh_settings(self) -> Iterator[ObjectStoreSettings]:
        raise NotImplementedError("the backend's test class provides fresh_settings")

    def fetch_presigned(self, store: ObjectStore, url: str) -> tuple[int, bytes]:
        raise NotImplementedError("the backend's test class provides fetch_presigned")

    @pytest.fixture
    def store(self, fresh_settings: ObjectStoreSettings) -> ObjectStore:
        store = create_object_store(fresh_settings)
        store.ensure_bucket()
        return store

    @pytest.fixture
    def photo(self) -> bytes:
        if not PHOTO.is_file():
            pytest.fail(f"{PHOTO} is missing: apt-get install labelme-examples")
        return PHOTO.read_bytes()

    def test_it_round_trips_a_crop_with_its_content_type(
        self, store: ObjectStore, photo: bytes
    ) -> None:
        key = crop_key("dev-1", "cam-1", CAPTURED, "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")

        store.put(key, photo, content_type="image/jpeg")

        assert store.get(key) == photo
        info = store.stat(key)
        assert (info.key, info.size, info.content_type) == (key, len(photo), "image/jpeg")
        assert info.etag
        assert info.metadata == {}
        assert info.last_modified is not None
        assert abs(info.last_modified - utc_now()) < timedelta(minutes=5)
        assert store.exists(key)

    def test_it_round_trips_an_object_near_the_size_limit(self, store: ObjectStore) -> None:
        # Above 5 MiB the S3 SDK switches to a multipart upload.
        data = bytes(range(256)) * (OBJECT_LIMIT // 256)

        store.put("models/big.bin", data)

        assert store.get("models/big.bin") == data
        assert store.stat("models/big.bin").size == OBJECT_LIMIT

    def test_it_refuses_an_object_over_the_size_limit(self, store: ObjectStore) -> None:
        with pytest.raises(ObjectTooLarge, match=f"at most {OBJECT_LIMIT} bytes") as caught:
            store.put("models/too-big.bin", b"\0" * (OBJECT_LIMIT + 1))

        assert caught.value.permanent
        assert not store.exists("models/too-big.bin")

    def test_it_returns_user_metadata_with_lower_cased_keys(self, store: ObjectStore) -> None:
        store.put("a/obj", b"x", metadata={"Camera-Id": "cam-1", "track-id": "42", "LABEL": "Bus"})

        assert store.stat("a/obj").metadata == {
            "camera-id": "cam-1",
            "track-id": "42",
            "label": "Bus",
        }

    def test_put_replaces_bytes_content_type_and_metadata(self, store: ObjectStore) -> None:
        store.put("a/obj", b"first", "text/plain", {"version": "1", "old": "yes"})
        first = store.stat("a/obj")

        store.put("a/obj", b"second!", "application/json", {"version": "2"})

        second = store.stat("a/obj")
        assert store.get("a/obj") == b"second!"
        assert (second.size, second.content_type) == (7, "application/json")
        assert second.metadata == {"version": "2"}
        assert second.etag != first.etag

    def test_repeating_a_put_leaves_one_identical_object(self, store: ObjectStore) -> None:
        store.put("crops/d/c/1.jpg", b"jpeg", "image/jpeg", {"k": "v"})
        etag = store.stat("crops/d/c/1.jpg").etag

        store.put("crops/d/c/1.jpg", b"jpeg", "image/jpeg", {"k": "v"})

        assert list(store.list("crops/")) == ["crops/d/c/1.jpg"]
        assert store.stat("crops/d/c/1.jpg").etag == etag
        assert store.get("crops/d/c/1.jpg") == b"jpeg"

    def test_a_missing_key_raises_object_not_found(self, store: ObjectStore) -> None:
        store.put("a/present", b"x")

        with pytest.raises(ObjectNotFound):
            store.get("a/absent")
        with pytest.raises(ObjectNotFound):
            store.stat("a/absent")
        assert not store.exists("a/absent")
        # A key that names a "directory" of other keys is not an object either.
        assert not store.exists("a")

    def test_delete_removes_the_object_and_is_idempotent(self, store: ObjectStore) -> None:
        store.put("a/obj", b"x", metadata={"k": "v"})
        store.put("a/obj-kept", b"y")

        store.delete("a/obj")
        store.delete("a/obj")
        store.delete("never/stored")

        assert not store.exists("a/obj")
        with pytest.raises(ObjectNotFound):
            store.get("a/obj")
        assert list(store.list()) == ["a/obj-kept"]

    def test_list_matches_plain_string_prefixes(self, store: ObjectStore) -> None:
        keys = ["crops/cam1/b.jpg", "crops/cam1/a.jpg", "crops/cam10/a.jpg", "crops/cam1-x"]
        # Both a key and keys below it, as S3 allows.
        keys += ["models/m", "models/m/v1/model.onnx", "models.txt"]
        for key in keys:
            store.put(key, key.encode())

        def listed(prefix: str = "") -> list[str]:
            found = list(store.list(prefix))
            assert len(found) == len(set(found)), f"duplicates in {found}"
            return sorted(found)

        assert listed() == sorted(keys)
        assert listed("crops/cam1/") == ["crops/cam1/a.jpg", "crops/cam1/b.jpg"]
        assert listed("crops/cam1") == [
            "crops/cam1-x",
            "crops/cam1/a.jpg",
            "crops/cam1/b.jpg",
            "crops/cam10/a.jpg",
        ]
        assert listed("models") == ["models.txt", "models/m", "models/m/v1/model.onnx"]
        assert listed("models/m/") == ["models/m/v1/model.onnx"]
        assert listed("nothing/") == []

    def test_a_crop_day_prefix_lists_one_cameras_crops_of_that_day(
        self, store: ObjectStore
    ) -> None:
        # What the orphan sweep lists (cloud.detections.orphans): a day of one camera, no more.
        wanted = crop_key("gate-01", "lobby", CAPTURED, "a")
        others = [
            crop_key("gate-01", "lobby", CAPTURED + timedelta(hours=1), "b"),  # the next day
            crop_key("gate-01", "lobby-2", CAPTURED, "c"),
            crop_key("gate-011", "lobby", CAPTURED, "d"),
        ]
        for key in [wanted, *others]:
            store.put(key, b"jpeg", "image/jpeg")
        prefix = crop_day_prefix("gate-01", "lobby", CAPTURED.date())
        assert list(store.list(prefix)) == [wanted]

    def test_it_serves_a_presigned_url_until_it_expires(
        self, store: ObjectStore, fresh_settings: ObjectStoreSettings, photo: bytes
    ) -> None:
        store.put("crops/d/c/p.jpg", photo, "image/jpeg")
        an_hour_ago = create_object_store(
            fresh_settings, clock=lambda: utc_now() - timedelta(hours=1)
        )

        fresh = store.presigned_get_url("crops/d/c/p.jpg", LIFETIME)
        stale = an_hour_ago.presigned_get_url("crops/d/c/p.jpg", LIFETIME)

        assert self.fetch_presigned(store, fresh) == (200, photo)
        assert self.fetch_presigned(store, stale)[0] == 403

    def test_it_refuses_a_tampered_presigned_url(self, store: ObjectStore) -> None:
        store.put("a/secret", b"secret")
        store.put("a/public", b"public")
        url = store.presigned_get_url("a/public", LIFETIME)

        other_key = url.replace("a/public", "a/secret")
        flipped = url[:-1] + ("0" if url[-1] != "0" else "1")

        assert self.fetch_presigned(store, other_key)[0] == 403
        assert self.fetch_presigned(store, flipped)[0] == 403

    @pytest.mark.parametrize("lifetime", [timedelta(0), timedelta(days=7, seconds=1)])
    def test_presigned_url_lifetime_is_bounded(
        self, store: ObjectStore, lifetime: timedelta
    ) -> None:
        with pytest.raises(InvalidObjectRequest, match="between 1 second and 7 days"):
            store.presigned_get_url("a/obj", lifetime)

    @pytest.mark.parametrize(
        "key",
        ["", "/a", "a/", "a//b", "..", "a/../b", "./a", ".hidden", "a b", "a@data", "é", "a\\b"],
    )
    def test_it_rejects_invalid_keys_before_any_io(self, store: ObjectStore, key: str) -> None:
        with pytest.raises(InvalidObjectRequest):
            store.put(key, b"x")
        with pytest.raises(InvalidObjectRequest):
            store.get(key)
        with pytest.raises(InvalidObjectRequest):
            store.delete(key)

    @pytest.mark.parametrize(
        "metadata",
        [
            {"camera_id": "x"},
            {"Label": "a", "label": "b"},
            {"label": ""},
            {"label": " padded"},
            {"label": "café"},
            {"label": "line\nbreak"},
            {"big": "x" * 2048},
        ],
    )
    def test_it_rejects_metadata_that_would_not_survive_http(
        self, store: ObjectStore, metadata: dict[str, str]
    ) -> None:
        with pytest.raises(InvalidObjectRequest):
            store.put("a/obj", b"x", metadata=metadata)
        assert not store.exists("a/obj")

    @pytest.mark.parametrize("prefix", ["/", "a//", "../", "a b"])
    def test_it_rejects_prefixes_no_key_can_have(self, store: ObjectStore, prefix: str) -> None:
        with pytest.raises(InvalidObjectRequest):
            store.list(prefix)

    def test_ensure_bucket_is_idempotent_and_keeps_objects(self, store: ObjectStore) -> None:
        store.put("a/obj", b"x")

        store.ensure_bucket()

        assert store.get("a/obj") == b"x"

    def test_reading_before_ensure_bucket_raises_bucket_not_found(
        self, fresh_settings: ObjectStoreSettings
    ) -> None:
        store = create_object_store(fresh_settings)

        with pytest.raises(BucketNotFound, match="ensure_bucket"):
            store.get("a/obj")
        with pytest.raises(BucketNotFound):
            list(store.list())

    def test_concurrent_puts_from_threads_all_land(self, store: ObjectStore) -> None:
        keys = [f"crops/d/c/{n:03d}.jpg" for n in range(48)]

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda key: store.put(key, key.encode(), "image/jpeg"), keys))

        assert sorted(store.list("crops/")) == keys
        assert all(store.get(key) == key.encode() for key in keys)
