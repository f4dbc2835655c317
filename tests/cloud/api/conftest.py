"""The API tests use the search tests' stores (real JPEG crops, an embedded vector store) and
the example page's tests' frame of vtest.avi, stored and embedded by the real models."""

from tests.cloud.search.conftest import search_data
from tests.cloud.search.test_example_views import frame_zero

__all__ = ["frame_zero", "search_data"]
