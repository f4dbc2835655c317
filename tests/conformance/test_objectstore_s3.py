"""`S3ObjectStore` against the object store contract, on a real S3 server (SeaweedFS in CI).

Needs SIGHTLINE_TEST_S3_ENDPOINT / _ACCESS_KEY / _SECRET_KEY (written by
`tests/services/manage.py up`): skipped without them, failed when CI is set. Each test gets
a fresh bucket named after the test node, emptied and removed before and after.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from minio import Minio
from minio.error import S3Error

from cloud.lib.objectstore import ObjectStore, ObjectStoreAuthError, create_object_store
from cloud.lib.objectstore.s3 import S3ObjectStoreSettings
from tests.conformance.objectstore_contract import LIFETIME, OBJECT_LIMIT, ObjectStoreContract

pytestmark = pytest.mark.integration

ENV_NAMES = (
    "SIGHTLINE_TEST_S3_ENDPOINT",
    "SIGHTLINE_TEST_S3_ACCESS_KEY",
    "SIGHTLINE_TEST_S3_SECRET_KEY",
)


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str

    def admin(self) -> Minio:
        return Minio(
            self.endpoint, self.access_key, self.secret_key, secure=False, region="us-east-1"
        )


@pytest.fixture(scope="session")
def s3_server() -> S3Server:
    values = [os.environ.get(name, "") for name in ENV_NAMES]
    if not all(values):
        missing = ", ".join(
            name for name, value in zip(ENV_NAMES, values, strict=True) if not value
        )
        message = f"S3 server not configured ({missing}); run tests/services/manage.py up"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(message)
        pytest.skip(message)
    return S3Server(*values)


def bucket_name(node_id: str) -> str:
    """Lower-case, 3-63 characters, unique per test node (S3 bucket-name rules)."""
    readable = re.sub(r"[^a-z0-9]+", "-", node_id.rpartition("::")[2].lower()).strip("-")
    digest = hashlib.sha256(node_id.encode()).hexdigest()[:10]
    return f"st-{readable[:48].strip('-')}-{digest}"


def remove_bucket(admin: Minio, bucket: str) -> None:
    try:
        for found in admin.list_objects(bucket, recursive=True):
            admin.remove_object(bucket, found.object_name)
        admin.remove_bucket(bucket)
    except S3Error as err:
        if err.code != "NoSuchBucket":
            raise


def settings_for(server: S3Server, bucket: str, **changes: object) -> S3ObjectStoreSettings:
    fields: dict[str, object] = {
        "type": "s3",
        "endpoint": server.endpoint,
        "access_key": server.access_key,
        "secret_key": server.secret_key,
        "bucket": bucket,
        "secure": False,
        "max_object_bytes": OBJECT_LIMIT,
    }
    return S3ObjectStoreSettings.model_validate(fields | changes)


@pytest.fixture
def bucket(s3_server: S3Server, request: pytest.FixtureRequest) -> Iterator[str]:
    name = bucket_name(request.node.nodeid)
    admin = s3_server.admin()
    remove_bucket(admin, name)
    yield name
    remove_bucket(admin, name)


class TestS3ObjectStore(ObjectStoreContract):
    @pytest.fixture
    def fresh_settings(self, s3_server: S3Server, bucket: str) -> Iterator[S3ObjectStoreSettings]:
        yield settings_for(s3_server, bucket)

    def fetch_presigned(self, store: ObjectStore, url: str) -> tuple[int, bytes]:
        """Fetch the URL over plain HTTP, as a browser holding it would."""
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            with err:
                return err.code, err.read()


@pytest.mark.parametrize(
    ("access_key", "secret_key"),
    [(None, "not-the-secret-key-at-all"), ("no-such-access-key", "not-the-secret-key-at-all")],
    ids=["wrong-secret", "unknown-access-key"],
)
def test_wrong_credentials_raise_a_permanent_auth_error(
    s3_server: S3Server, bucket: str, access_key: str | None, secret_key: str
) -> None:
    good = create_object_store(settings_for(s3_server, bucket))
    good.ensure_bucket()
    good.put("a/obj", b"x")
    bad = create_object_store(
        settings_for(
            s3_server,
            bucket,
            access_key=access_key or s3_server.access_key,
            secret_key=secret_key,
        )
    )

    for call in (lambda: bad.get("a/obj"), lambda: bad.put("a/obj", b"y"), bad.ensure_bucket):
        with pytest.raises(ObjectStoreAuthError) as caught:
            call()
        assert caught.value.permanent
    assert good.get("a/obj") == b"x"


def test_presigned_url_for_a_public_host_is_served(s3_server: S3Server, bucket: str) -> None:
    port = s3_server.endpoint.rpartition(":")[2]
    store = create_object_store(
        settings_for(s3_server, bucket, public_url=f"http://localhost:{port}")
    )
    store.ensure_bucket()
    store.put("a/obj", b"seen from outside")

    url = store.presigned_get_url("a/obj", LIFETIME)

    assert url.startswith(f"http://localhost:{port}/{bucket}/a/obj?")
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"seen from outside"
