"""The stores of the face tests (`tests.cloud.faces.stores.stores`)."""

from tests.cloud.faces.stores import stores

__all__ = ["stores"]
