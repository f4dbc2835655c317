"""Builds the configured vector store.

Public surface:

- ``VectorStoreSettings``: the settings union, discriminated by ``type``
  (``embedded`` | ``weaviate``); ``parse_settings(data)`` validates a mapping into it.
- ``create_vector_store(settings, dimension=...)``: imports the backend named by
  ``settings.type`` (and only that one) and builds it.

The registry is an explicit mapping, so the schema knows every key even in an image
without a backend's SDK; such a backend fails at construction with ``BackendUnavailable``.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Mapping
from typing import Annotated, Any, Final, cast

from pydantic import Field, TypeAdapter

from cloud.lib.vectorstore.base import VectorStore
from cloud.lib.vectorstore.embedded import EmbeddedVectorStoreSettings
from cloud.lib.vectorstore.weaviate_store import WeaviateVectorStoreSettings

VectorStoreSettings = Annotated[
    EmbeddedVectorStoreSettings | WeaviateVectorStoreSettings, Field(discriminator="type")
]

BACKENDS: Final[Mapping[str, str]] = {
    "embedded": "cloud.lib.vectorstore.embedded:EmbeddedVectorStore",
    "weaviate": "cloud.lib.vectorstore.weaviate_store:WeaviateVectorStore",
}

_ADAPTER: Final[TypeAdapter[VectorStoreSettings]] = TypeAdapter(VectorStoreSettings)


def parse_settings(data: Mapping[str, Any]) -> VectorStoreSettings:
    """Validate a mapping (from YAML or env) into the settings of the backend it names."""
    return _ADAPTER.validate_python(dict(data))


def create_vector_store(settings: VectorStoreSettings, *, dimension: int) -> VectorStore:
    """Build the backend ``settings.type`` names, for vectors of length ``dimension``.

    The dimension comes from the embedding model, not from the deployment config, so it is
    an argument rather than a setting. The store is not yet checked against the server:
    call ``ensure_collection()`` once at startup.
    """
    backend = pkgutil.resolve_name(BACKENDS[settings.type])
    return cast(VectorStore, backend(settings, dimension=dimension))
