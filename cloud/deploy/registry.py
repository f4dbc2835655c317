"""The model registry: upload a signed model version, find it, hand out download URLs.

An upload is an ONNX file, its manifest (TOML, read through `models.manifest`'s runtime view,
as the agent reads it) and an ed25519 signature over `sightline.model_signature.signed_message`,
made by a key registered in `SigningKey`. Every check runs before anything is stored: the
manifest parses and describes a detector, it pins the file's sha256, the signature verifies.
The file goes to the object store under `model_key` (content-addressed), then the row is
written; a retried upload of the same bytes returns the stored version, one with other bytes
under an existing name and version is refused (a version is immutable: devices may run it).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import urljoin

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from cloud import backends
from cloud.deploy.models import ModelVersion, SigningKey
from cloud.deploy.signing import verifies
from cloud.errors import InvalidInput, NotFound
from cloud.lib.objectstore import model_key
from models.errors import ManifestError
from models.manifest import RuntimeManifest, parse_runtime_manifest
from sightline.model_signature import ED25519_SIGNATURE_BYTES, parse_public_key, signed_message

logger = logging.getLogger(__name__)

ONNX_CONTENT_TYPE: Final = "application/octet-stream"


@dataclass(frozen=True)
class Upload:
    """What an operator uploads: the model file, its manifest, and their signature."""

    onnx: bytes
    manifest_toml: bytes
    signature: bytes
    key_id: str


def parse_manifest(manifest_toml: bytes) -> RuntimeManifest:
    """The runtime view of a manifest, as the agent will read it; InvalidInput if it is not
    one, or not a detector's."""
    try:
        manifest = parse_runtime_manifest(manifest_toml, "(uploaded)")
    except ManifestError as err:
        raise InvalidInput(str(err)) from err
    if manifest.task != "detector":
        raise InvalidInput(f"only detectors are deployed; the manifest's task is {manifest.task}")
    return manifest


def message_of(upload_onnx: bytes, manifest_toml: bytes) -> tuple[RuntimeManifest, bytes]:
    """The manifest and the message its signature must cover; InvalidInput when the manifest
    does not pin this file."""
    manifest = parse_manifest(manifest_toml)
    sha256 = hashlib.sha256(upload_onnx).hexdigest()
    if manifest.output.sha256 != sha256:
        raise InvalidInput(
            f"the manifest pins sha256 {manifest.output.sha256}, the ONNX file has {sha256}"
        )
    message = signed_message(
        manifest.name,
        manifest.version,
        sha256,
        len(upload_onnx),
        hashlib.sha256(manifest_toml).hexdigest(),
    )
    return manifest, message


def upload_model(upload: Upload, *, uploaded_by: str) -> tuple[ModelVersion, bool]:
    """Verify and store a model version; return it and whether it is new.

    Raises InvalidInput (with the reason) for a bad manifest, a file the manifest does not pin,
    an unknown key, a signature that does not verify, or a name and version already taken by
    other bytes; ObjectStoreError when the store fails (nothing is recorded then).
    """
    manifest, message = message_of(upload.onnx, upload.manifest_toml)
    key = SigningKey.objects.filter(pk=upload.key_id).first()
    if key is None:
        raise InvalidInput(f"signing key {upload.key_id!r} is not registered")
    if len(upload.signature) != ED25519_SIGNATURE_BYTES or not verifies(
        parse_public_key(key.public_key), upload.signature, message
    ):
        raise InvalidInput(
            f"the signature does not verify under key {key.key_id}: the files were altered "
            "after signing, or signed with another key"
        )
    sha256 = hashlib.sha256(upload.onnx).hexdigest()
    existing = ModelVersion.objects.filter(name=manifest.name, version=manifest.version).first()
    if existing is not None:
        return _same_upload(existing, sha256, upload.manifest_toml), False
    object_key = model_key(manifest.name, manifest.version, sha256)
    backends.object_store().put(object_key, upload.onnx, ONNX_CONTENT_TYPE)
    try:
        with transaction.atomic():
            version = ModelVersion.objects.create(
                name=manifest.name,
                version=manifest.version,
                task=manifest.task,
                manifest=manifest.model_dump(mode="json"),
                manifest_toml=upload.manifest_toml.decode("utf-8"),
                manifest_sha256=hashlib.sha256(upload.manifest_toml).hexdigest(),
                sha256=sha256,
                size=len(upload.onnx),
                object_key=object_key,
                signature=upload.signature,
                key=key,
                uploaded_by=uploaded_by,
            )
    except IntegrityError:
        # A concurrent upload of the same name and version won the race.
        existing = ModelVersion.objects.get(name=manifest.name, version=manifest.version)
        return _same_upload(existing, sha256, upload.manifest_toml), False
    logger.info(
        "model %s %s uploaded by %s (sha256 %s, %d bytes, key %s)",
        version.name, version.version, uploaded_by, sha256, version.size, key.key_id,
    )  # fmt: skip
    return version, True


def _same_upload(existing: ModelVersion, sha256: str, manifest_toml: bytes) -> ModelVersion:
    if existing.sha256 != sha256 or existing.manifest_toml.encode() != manifest_toml:
        raise InvalidInput(
            f"model {existing.name} {existing.version} exists with other contents; a version "
            "never changes: give the new one another version"
        )
    return existing


def get_version(name: str, version: str) -> ModelVersion:
    """The stored version; NotFound otherwise."""
    found = ModelVersion.objects.filter(name=name, version=version).select_related("key").first()
    if found is None:
        raise NotFound(f"model {name} {version} is not in the registry")
    return found


def download_url(version: ModelVersion) -> tuple[str, datetime]:
    """An expiring URL of the version's artifact and when it expires.

    The object store signs it (an S3 presigned URL, or the web app's signed /objects/ path,
    made absolute with `DEPLOY['public_url']`, since a device has no page to resolve it from).
    """
    lifetime = timedelta(seconds=settings.DEPLOY["url_lifetime_s"])
    expires_at = timezone.now() + lifetime
    url = backends.object_store().presigned_get_url(version.object_key, lifetime)
    if url.startswith("/"):
        base = settings.DEPLOY["public_url"]
        if not base:
            raise InvalidInput(
                "the local object store serves model downloads through the web app: set "
                "SIGHTLINE_CLOUD_PUBLIC_URL to the address devices reach it at"
            )
        url = urljoin(base, url)
    return url, expires_at
