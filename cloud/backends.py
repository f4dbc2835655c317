"""The process's object store and vector store, built once from the Django settings.

Public surface: `object_store()` and `vector_store()`, and `Once`, which other per-process
singletons (the crop embedder) use the same way. Both stores are built on first use, not at
import, so a Celery prefork child or a web worker builds its own after the fork (a Weaviate
client's connections belong to one process). A build that fails (server down) is not cached, so
the next call tries again. The first successful build also runs ``ensure_bucket()`` /
``ensure_collection()``, which the stores require once before use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final, Generic, TypeVar

from django.conf import settings
from pydantic import TypeAdapter

from cloud.embeddings.spec import CROP_EMBEDDING_DIMENSION
from cloud.lib.objectstore import ObjectStore, ObjectStoreSettings, create_object_store
from cloud.lib.vectorstore import VectorStore, create_vector_store, parse_settings

T = TypeVar("T")

_OBJECT_STORE_SETTINGS: Final[TypeAdapter[ObjectStoreSettings]] = TypeAdapter(ObjectStoreSettings)


class Once(Generic[T]):
    """Calls `build` until it succeeds once, then returns that value; thread-safe."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: T | None = None

    def __call__(self) -> T:
        # A lock rather than functools.cache: two threads racing on a cold cache would each
        # build a client, and the loser's connections would never be closed.
        with self._lock:
            if self._value is None:
                self._value = self._build()
            return self._value


def _build_object_store() -> ObjectStore:
    store = create_object_store(_OBJECT_STORE_SETTINGS.validate_python(settings.OBJECT_STORE))
    store.ensure_bucket()
    return store


def _build_vector_store() -> VectorStore:
    # The dimension belongs to the crop embedding model, not to the deployment's settings.
    store = create_vector_store(
        parse_settings(settings.VECTOR_STORE), dimension=CROP_EMBEDDING_DIMENSION
    )
    try:
        store.ensure_collection()
    except BaseException:
        store.close()
        raise
    return store


object_store: Final = Once(_build_object_store)
"""The configured `ObjectStore` (crops, model artifacts), its bucket ensured."""

vector_store: Final = Once(_build_vector_store)
"""The configured `VectorStore` of crop embeddings, its collection ensured."""
