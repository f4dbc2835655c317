"""The edge agent's error hierarchy. Retry decisions look only at `TransportError.permanent`.

A model that is missing, altered or unusable raises `models.errors.ModelError` instead: the one
model error that the agent, the cloud workers and the model tooling share.
"""

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


class DatasetError(EdgeError):
    """A ground-truth data set for `python -m edge accuracy` is missing or cannot be read."""


class DeployRefused(EdgeError):
    """A desired model was not applied: not downloaded, not authentic, or not runnable. The
    message is the reason the device reports (`ReportedState.error`); the old model keeps
    running."""


class TransportError(EdgeError):
    """Delivering to the cloud failed.

    `permanent=True` means retrying cannot help (bad credentials, a payload the server rejects):
    the caller must surface it. `permanent=False` means try again later (server down, timeout).
    """

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent
