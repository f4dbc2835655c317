"""S3 (SeaweedFS): object round trip, presigned GET, and signature checking."""

from __future__ import annotations

import io
import urllib.request
from datetime import timedelta

import pytest
from minio import Minio
from minio.error import S3Error

from tests.services.contract import S3Server

pytestmark = pytest.mark.integration

JPEG_BYTES = bytes(range(256)) * 64


def test_it_puts_and_gets_an_object(s3_client: Minio, s3_bucket: str) -> None:
    key = "crops/test-device-1/cam-1/2026/11/21/0001.jpg"
    s3_client.put_object(
        s3_bucket, key, io.BytesIO(JPEG_BYTES), len(JPEG_BYTES), content_type="image/jpeg"
    )
    response = s3_client.get_object(s3_bucket, key)
    try:
        assert response.read() == JPEG_BYTES
        assert response.headers["Content-Type"] == "image/jpeg"
    finally:
        response.close()
        response.release_conn()


def test_a_presigned_get_url_works_without_credentials(s3_client: Minio, s3_bucket: str) -> None:
    s3_client.put_object(s3_bucket, "a.jpg", io.BytesIO(JPEG_BYTES), len(JPEG_BYTES))
    url = s3_client.presigned_get_object(s3_bucket, "a.jpg", expires=timedelta(minutes=5))
    # A plain client with no credentials, and no *_proxy detour, as a browser would fetch it.
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with direct.open(url, timeout=10) as response:
        assert response.read() == JPEG_BYTES


def test_a_wrong_secret_key_is_rejected(
    s3_server: S3Server, s3_client: Minio, s3_bucket: str
) -> None:
    impostor = Minio(
        s3_server.endpoint,
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key + "x",
        secure=False,
    )
    with pytest.raises(S3Error) as refused:
        impostor.put_object(s3_bucket, "forged.jpg", io.BytesIO(b"x"), 1)
    assert refused.value.code == "SignatureDoesNotMatch"
    assert [item.object_name for item in s3_client.list_objects(s3_bucket)] == []
