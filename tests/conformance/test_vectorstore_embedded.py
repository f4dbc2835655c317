"""`EmbeddedVectorStore` against the vector store contract (no server needed).

Twice: with the default flat-search cutoff (the contract's few vectors are scored exactly)
and with no cutoff, so that every query walks the HNSW graph with its filter.
"""

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


class TestEmbeddedVectorStoreThroughTheGraph(VectorStoreContract):
    @pytest.fixture
    def fresh_settings(self, tmp_path: Path) -> Iterator[EmbeddedVectorStoreSettings]:
        yield EmbeddedVectorStoreSettings(
            path=tmp_path / "db" / "vectors.sqlite3", flat_search_cutoff=0
        )
