"""`LocalObjectStore` against the object store contract (no server needed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from pydantic import SecretStr

from cloud.lib.objectstore import ObjectStore, PresignedUrlInvalid
from cloud.lib.objectstore.local import LocalObjectStore, LocalObjectStoreSettings
from tests.conformance.objectstore_contract import OBJECT_LIMIT, ObjectStoreContract


class TestLocalObjectStore(ObjectStoreContract):
    @pytest.fixture
    def fresh_settings(self, tmp_path: Path) -> Iterator[LocalObjectStoreSettings]:
        yield LocalObjectStoreSettings(
            type="local",
            root=tmp_path / "store",
            url_signing_key=SecretStr("k" * 32),
            max_object_bytes=OBJECT_LIMIT,
        )

    def fetch_presigned(self, store: ObjectStore, url: str) -> tuple[int, bytes]:
        """Serve the URL the way the web app's view does: verify, then read."""
        assert isinstance(store, LocalObjectStore)
        parts = urlsplit(url)
        key = unquote(parts.path.removeprefix("/objects/"))
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        try:
            store.verify_presigned(key, query.get("exp", ""), query.get("sig", ""))
        except PresignedUrlInvalid:
            return 403, b""
        return 200, store.get(key)
