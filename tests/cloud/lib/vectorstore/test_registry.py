"""Settings parsing and backend construction by `type`."""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import pydantic
import pytest

from cloud.lib.vectorstore import BACKENDS, VectorStoreSettings, create_vector_store, parse_settings
from cloud.lib.vectorstore.embedded import EmbeddedVectorStore, EmbeddedVectorStoreSettings
from cloud.lib.vectorstore.weaviate_store import WeaviateVectorStoreSettings


def test_every_settings_type_has_a_backend_and_every_backend_has_settings() -> None:
    union = typing.get_args(typing.get_args(VectorStoreSettings)[0])
    types = {typing.get_args(model.model_fields["type"].annotation)[0] for model in union}

    assert types == set(BACKENDS) == {"embedded", "weaviate"}


def test_parse_settings_picks_the_model_named_by_type(tmp_path: Path) -> None:
    embedded = parse_settings({"type": "embedded", "path": str(tmp_path / "v.db")})
    weaviate = parse_settings(
        {
            "type": "weaviate",
            "url": "https://weaviate.internal",
            "grpc_host": "grpc.weaviate.internal",
            "grpc_port": 443,
        }
    )

    assert isinstance(embedded, EmbeddedVectorStoreSettings)
    assert embedded.path == tmp_path / "v.db"
    assert isinstance(weaviate, WeaviateVectorStoreSettings)
    assert (weaviate.url.host, weaviate.url.port, weaviate.collection) == (
        "weaviate.internal",
        443,
        "Detection",
    )


@pytest.mark.parametrize(
    "data",
    [
        {"type": "faiss", "path": "x"},
        {"type": "embedded", "path": "x", "dimension": 4},
        {"type": "embedded", "path": "x", "collection": "lower_case"},
        {"type": "embedded", "path": "x", "collection": "Has-Dash"},
        {"type": "weaviate", "url": "not a url"},
        {"type": "weaviate", "url": "http://w:8080", "timeout_s": 0},
    ],
)
def test_parse_settings_refuses_unknown_types_fields_and_bad_values(
    data: dict[str, object],
) -> None:
    with pytest.raises(pydantic.ValidationError):
        parse_settings(data)


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = EmbeddedVectorStoreSettings(path=tmp_path / "v.db")

    with pytest.raises(pydantic.ValidationError):
        settings.collection = "Other"


def test_create_vector_store_builds_the_backend_named_by_type(tmp_path: Path) -> None:
    store = create_vector_store(EmbeddedVectorStoreSettings(path=tmp_path / "v.db"), dimension=8)
    try:
        assert isinstance(store, EmbeddedVectorStore)
        assert store.dimension == 8
    finally:
        store.close()


def test_the_settings_schema_does_not_import_any_backend_sdk() -> None:
    code = (
        "import sys, cloud.lib.vectorstore as v;"
        "v.parse_settings({'type': 'weaviate', 'url': 'http://w:8080'});"
        "sys.stdout.write(str(sorted(m for m in sys.modules if m.split('.')[0] in"
        " {'weaviate', 'grpc', 'httpx'})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout

    assert loaded == "[]"
