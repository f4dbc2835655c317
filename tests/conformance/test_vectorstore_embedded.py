"""`EmbeddedVectorStore` against the vector store contract (no server needed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.lib.vectorstore.embedded import EmbeddedVectorStoreSettings
from tests.conformance.vectorstore_contract import VectorStoreContract


class TestEmbeddedVectorStoreOnFile(VectorStoreContract):
    @pytest.fixture
    def fresh_settings(self, tmp_path: Path) -> Iterator[EmbeddedVectorStoreSettings]:
        yield EmbeddedVectorStoreSettings(path=tmp_path / "db" / "vectors.sqlite3")
