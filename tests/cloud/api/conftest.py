"""The API tests use the search tests' stores (real JPEG crops, an embedded vector store)."""

from tests.cloud.search.conftest import search_data

__all__ = ["search_data"]
