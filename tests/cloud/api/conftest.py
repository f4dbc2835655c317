"""The API tests reuse the search pages' tests' data: the search tests' stores (real JPEG
crops, an embedded vector store), the example page's frame of vtest.avi and the face tests'
photos (stored and embedded by the real models), and the image-text tests' tiny CLIP."""

from tests.cloud.faces.test_faces import stored, stores
from tests.cloud.imagetext.test_image_text import analysed, collection, model, tiny
from tests.cloud.search.conftest import search_data
from tests.cloud.search.test_example_views import frame_zero

__all__ = [
    "analysed",
    "collection",
    "frame_zero",
    "model",
    "search_data",
    "stored",
    "stores",
    "tiny",
]
