"""The process's object store and vector store, built once from the Django settings.

Public surface: `object_store()`, `vector_store()`, `vector_collection(suffix, dimension)`,
`crop_collection()` and `Once`, which other per-process singletons (the crop embedder) use the
same way. Stores are built on first use, not at import, so a Celery prefork child or a web
worker builds its own after the fork (a Weaviate client's connections belong to one process).
A build that fails (server down) is not cached, so the next call tries again. The first
successful build also runs ``ensure_bucket()`` / ``ensure_collection()``, which the stores
require once before use.
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


def _build_vector_store(suffix: str = "", dimension: int = CROP_EMBEDDING_DIMENSION) -> VectorStore:
    # The dimension belongs to the model whose vectors the collection holds, not to the
    # deployment's settings.
    configured = parse_settings(settings.VECTOR_STORE)
    if suffix:
        configured = configured.model_copy(update={"collection": configured.collection + suffix})
    store = create_vector_store(configured, dimension=dimension)
    try:
        store.ensure_collection()
    except BaseException:
        store.close()
        raise
    return store


def crop_collection() -> str:
    """The name of the collection the crop vectors are in: what says which embedding a stored
    vector (a learned classifier, an alert's example) belongs to. Read from the settings as the
    store reads them (a setting without a name gets the backend's default), without building
    the store."""
    return parse_settings(settings.VECTOR_STORE).collection


object_store: Final = Once(_build_object_store)
"""The configured `ObjectStore` (crops, model artifacts), its bucket ensured."""

vector_store: Final = Once(_build_vector_store)
"""The configured `VectorStore` of crop embeddings, its collection ensured."""

_collections: dict[str, Once[VectorStore]] = {}
_collections_lock = threading.Lock()


def vector_collection(suffix: str, dimension: int) -> VectorStore:
    """A further collection beside the crop embeddings', on the same backend and settings.

    Vectors of another model (face embeddings, an image-text model's) never share a collection
    with the crop embeddings: the collection is the configured name plus `suffix` (``Face``
    next to ``Detection``), keyed by the same detection ids. Built and ensured once per process.
    """
    with _collections_lock:
        once = _collections.get(suffix)
        if once is None:
            once = _collections[suffix] = Once(lambda: _build_vector_store(suffix, dimension))
    store = once()
    if store.dimension != dimension:
        raise ValueError(
            f"vector collection suffix {suffix!r} is in use for {store.dimension}-d vectors, "
            f"not {dimension}-d"
        )
    return store
