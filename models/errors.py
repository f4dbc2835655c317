"""Errors raised by the model manifests, fetcher and builder."""


class ModelError(Exception):
    """Base class for everything `models` raises on purpose."""


class ManifestError(ModelError):
    """A manifest is missing or does not match the schema."""


class FetchError(ModelError):
    """The registry client failed or the archive lacks a listed file."""


class ChecksumMismatchError(ModelError):
    """A file's sha256 differs from the one pinned in its manifest."""


class ModelNotBuiltError(ModelError):
    """The model is not in the cache; the message says which command builds it."""
