"""Where face vectors live: their own collection beside the crop embeddings'."""

from __future__ import annotations

from cloud import backends
from cloud.faces.recognizer import FACE_COLLECTION, FACE_DIMENSION
from cloud.lib.vectorstore import VectorStore


def face_vectors() -> VectorStore:
    """This process's collection of face vectors, keyed by detection id (built on first use)."""
    return backends.vector_collection(FACE_COLLECTION, FACE_DIMENSION)
