"""`ModelError`: the one error for a model that cannot be used, raised by `models`, the edge agent
and the cloud workers alike, with the classes below for what the recipe and the cache tell apart.

A light module (see `models.manifest`): runtime code may import it.
"""


class ModelError(Exception):
    """A model is missing, altered (sha256 mismatch) or unusable; the message says which and why.

    Raised on purpose by the manifest reader, the builder, the cache, and by the runtimes that
    load a model (the edge detectors, the cloud embedder) when it does not fit what they run.
    """


class ManifestError(ModelError):
    """A manifest is missing or does not match the schema."""


class FetchError(ModelError):
    """The registry client failed or the archive lacks a listed file."""


class ChecksumMismatchError(ModelError):
    """A file's sha256 differs from the one pinned in its manifest."""


class ModelNotBuiltError(ModelError):
    """The model is not in the cache; the message says which command builds it."""


class RuntimeUnavailableError(ModelError):
    """An inference runtime (TensorRT, pycuda) or the GPU it needs is missing on this machine;
    the message says what to install. Callers that have a `BackendUnavailable` translate it."""
