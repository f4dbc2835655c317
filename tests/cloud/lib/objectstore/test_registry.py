"""The object store registry: every configured type builds its backend."""

from __future__ import annotations

import importlib
import typing
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from cloud.lib.objectstore import BACKENDS, ObjectStoreSettings, create_object_store
from cloud.lib.objectstore.local import LocalObjectStore
from cloud.lib.objectstore.s3 import S3ObjectStore, S3ObjectStoreSettings

ADAPTER: TypeAdapter[ObjectStoreSettings] = TypeAdapter(ObjectStoreSettings)


def test_the_settings_schema_knows_exactly_the_registered_types() -> None:
    union = typing.get_args(ObjectStoreSettings)[0]
    types = {
        typing.get_args(model.model_fields["type"].annotation)[0]
        for model in typing.get_args(union)
    }

    assert types == set(BACKENDS)


@pytest.mark.parametrize("key", sorted(BACKENDS))
def test_every_registry_entry_names_an_importable_class(key: str) -> None:
    module_name, _, class_name = BACKENDS[key].partition(":")

    assert isinstance(getattr(importlib.import_module(module_name), class_name), type)


def test_it_builds_the_backend_named_by_type(tmp_path: Path) -> None:
    local = ADAPTER.validate_python(
        {"type": "local", "root": str(tmp_path), "url_signing_key": "k" * 32}
    )
    s3 = ADAPTER.validate_python(
        {
            "type": "s3",
            "endpoint": "s3.internal:9000",
            "access_key": "a",
            "secret_key": "s",
            "bucket": "crops",
        }
    )

    assert isinstance(s3, S3ObjectStoreSettings)
    assert isinstance(create_object_store(local), LocalObjectStore)
    assert isinstance(create_object_store(s3), S3ObjectStore)


def test_an_unknown_type_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        ADAPTER.validate_python({"type": "gcs"})
