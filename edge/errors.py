"""The edge agent's error hierarchy. Retry decisions look only at `TransportError.permanent`."""

from __future__ import annotations


class EdgeError(Exception):
    """Base class of every error the edge agent raises on purpose."""


class ConfigError(EdgeError):
    """The configuration is invalid; the message names each offending key and its YAML line."""


class BackendUnavailable(EdgeError):
    """A configured backend cannot run here (missing SDK or hardware).

    The message says what to install or which image to use.
    """


class SourceError(EdgeError):
    """A video source cannot be opened or stopped delivering frames (corrupt file, dead stream)."""


class ModelError(EdgeError):
    """A model file is missing, tampered with (sha256 mismatch) or does not match its manifest."""


class TransportError(EdgeError):
    """Delivering to the cloud failed.

    `permanent=True` means retrying cannot help (bad credentials, a payload the server rejects):
    the caller must surface it. `permanent=False` means try again later (server down, timeout).
    """

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent
