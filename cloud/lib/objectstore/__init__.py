"""Blob storage for crops and model artifacts: one protocol, an S3 and a local backend.

Build a store with `create_object_store(settings)`, call `ensure_bucket()` once at start-up,
and address objects with keys from `cloud.lib.objectstore.keys` (for example `crop_key`).
"""

from cloud.lib.objectstore.base import ObjectInfo, ObjectStore
from cloud.lib.objectstore.errors import (
    BackendUnavailable,
    BucketNotFound,
    InvalidObjectRequest,
    ObjectNotFound,
    ObjectStoreAuthError,
    ObjectStoreError,
    ObjectStoreUnavailable,
    ObjectTooLarge,
    PresignedUrlExpired,
    PresignedUrlInvalid,
)
from cloud.lib.objectstore.keys import context_key, crop_key, face_key, model_key
from cloud.lib.objectstore.registry import BACKENDS, ObjectStoreSettings, create_object_store

__all__ = [
    "BACKENDS",
    "BackendUnavailable",
    "BucketNotFound",
    "InvalidObjectRequest",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStoreAuthError",
    "ObjectStoreError",
    "ObjectStoreSettings",
    "ObjectStoreUnavailable",
    "ObjectTooLarge",
    "PresignedUrlExpired",
    "PresignedUrlInvalid",
    "context_key",
    "create_object_store",
    "crop_key",
    "face_key",
    "model_key",
]
