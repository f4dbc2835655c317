"""Detection embeddings searched by cosine similarity: one protocol, two backends.

Build a store with ``create_vector_store(settings, dimension=...)`` (``embedded``: SQLite and
an in-memory faiss HNSW index, zero servers; ``weaviate``), call ``ensure_collection()`` once at
start-up, and key items by the edge's detection id.
"""

from cloud.lib.vectorstore.base import (
    MAX_K,
    DetectionProperties,
    Filters,
    Hit,
    VectorItem,
    VectorStore,
    get_all,
    object_uuid,
)
from cloud.lib.vectorstore.errors import (
    BackendUnavailable,
    CollectionMismatch,
    CollectionNotFound,
    DimensionMismatch,
    InvalidRequest,
    VectorStoreAuthError,
    VectorStoreError,
    VectorStoreUnavailable,
)
from cloud.lib.vectorstore.registry import (
    BACKENDS,
    VectorStoreSettings,
    create_vector_store,
    parse_settings,
)

__all__ = [
    "BACKENDS",
    "MAX_K",
    "BackendUnavailable",
    "CollectionMismatch",
    "CollectionNotFound",
    "DetectionProperties",
    "DimensionMismatch",
    "Filters",
    "Hit",
    "InvalidRequest",
    "VectorItem",
    "VectorStore",
    "VectorStoreAuthError",
    "VectorStoreError",
    "VectorStoreSettings",
    "VectorStoreUnavailable",
    "create_vector_store",
    "get_all",
    "object_uuid",
    "parse_settings",
]
