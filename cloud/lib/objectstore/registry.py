"""Which object store backends exist and how to build one.

Public surface: `BACKENDS` (config ``type`` key → ``"module:Class"``), `ObjectStoreSettings`
(the settings of any backend, discriminated by ``type``) and `create_object_store`. The
registry is an explicit dict rather than a subclass scan, so the config schema knows every
backend even where a backend's SDK is not installed; the class is imported only when built.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Mapping
from typing import Annotated, Final

from pydantic import Field

from cloud.lib.objectstore.base import Clock, ObjectStore, utc_now
from cloud.lib.objectstore.local import LocalObjectStoreSettings
from cloud.lib.objectstore.s3 import S3ObjectStoreSettings

BACKENDS: Final[Mapping[str, str]] = {
    "local": "cloud.lib.objectstore.local:LocalObjectStore",
    "s3": "cloud.lib.objectstore.s3:S3ObjectStore",
}

ObjectStoreSettings = Annotated[
    LocalObjectStoreSettings | S3ObjectStoreSettings, Field(discriminator="type")
]
"""Settings of any backend; pydantic picks the model from the ``type`` field."""


def create_object_store(settings: ObjectStoreSettings, *, clock: Clock = utc_now) -> ObjectStore:
    """Build the backend that `settings.type` names.

    `clock` dates presigned URLs (tests move it). Raises `BackendUnavailable` when the
    backend's SDK is not installed; no request is sent before the first call.
    """
    backend = pkgutil.resolve_name(BACKENDS[settings.type])
    store: ObjectStore = backend(settings, clock=clock)
    return store
