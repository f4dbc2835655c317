"""Errors of the ingest edge that have no counterpart in `cloud.errors`.

`cloud.ingest.status` maps them, with the shared domain errors, to gRPC status codes and acks.
"""

from __future__ import annotations

from cloud.errors import CloudError


class Unauthenticated(CloudError):
    """The call carries no valid device credential."""


class PermissionDenied(CloudError):
    """The authenticated device acts for another device."""


class TooManyStreams(CloudError):
    """The server already serves as many upload streams as it may."""
