"""The API tests reuse the search pages' tests' data: the search tests' stores (real JPEG
crops, an embedded vector store: `search_data`, in tests/cloud/conftest.py), the example
page's frame of vtest.avi and the face tests' photos (stored and embedded by the real models),
and the image-text tests' tiny CLIP."""

from tests.cloud.faces.stores import stores
from tests.cloud.faces.test_faces import stored
from tests.cloud.imagetext.test_image_text import analysed, collection, model, tiny
from tests.cloud.search.test_example_views import frame_zero

__all__ = [
    "analysed",
    "collection",
    "frame_zero",
    "model",
    "stored",
    "stores",
    "tiny",
]
