"""Domain errors raised by the cloud's service functions.

Service functions raise these; the edges translate them once (the gRPC interceptor to status
codes, the MQTT bridge to a logged drop, views to HTTP responses), so no caller needs to know
about database exceptions.
"""

from __future__ import annotations


class CloudError(Exception):
    """Base class of every domain error the cloud raises on purpose."""


class NotFound(CloudError):
    """A referenced object (device, camera, detection) does not exist."""


class InvalidInput(CloudError):
    """A message from a device or user breaks the contract; retrying it cannot succeed."""
