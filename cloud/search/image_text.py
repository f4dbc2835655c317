"""Text-to-image search with the image-text plug-in (`cloud.imagetext`): the query goes
through the tokenizer and the text encoder, is L2-normalised, and is looked up in the crops'
image-text collection under the page's filters; a track shows once, by its nearest crop.

Public surface: `ImageTextHit` and `search_image_text(query, criteria, ...)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cloud.detections.models import Detection
from cloud.imagetext.analyser import image_text_collection
from cloud.imagetext.model import ImageTextModel, image_text_model
from cloud.lib.vectorstore import MAX_K, VectorStore
from cloud.search.criteria import SearchCriteria
from cloud.search.vocabulary import query_words

# Neighbours fetched per wanted track: a track usually has one to a few crops.
_PER_TRACK: Final = 4


@dataclass(frozen=True)
class ImageTextHit:
    """One track's nearest crop to the query."""

    detection: Detection
    score: float
    """Cosine similarity between the query's and the crop's vectors, in [-1, 1]."""


def search_image_text(
    query: str,
    criteria: SearchCriteria,
    *,
    k: int,
    model: ImageTextModel | None = None,
    vectors: VectorStore | None = None,
) -> list[ImageTextHit]:
    """The `k` tracks whose crops the image-text model finds nearest to `query`, best first.

    Raises `cloud.search.vocabulary.TextQueryError` for an empty, too long or control-character
    query, and what the vector store raises (`VectorStoreUnavailable`). The model and the
    collection default to this process's.
    """
    query_words(query)
    model = model or image_text_model()
    vectors = vectors or image_text_collection(model)
    (vector,) = model.embed_texts([query.strip()])
    hits = vectors.query(vector, k=min(MAX_K, k * _PER_TRACK), filters=criteria.vector_filters())
    rows = Detection.objects.select_related("camera").in_bulk([hit.detection_id for hit in hits])
    results: list[ImageTextHit] = []
    seen: set[str] = set()
    for hit in hits:
        # The database is the source of truth: a vector whose detection is gone is skipped.
        row = rows.get(hit.detection_id)
        if row is None or row.track_id in seen:
            continue
        seen.add(row.track_id)
        results.append(ImageTextHit(row, hit.score))
        if len(results) == k:
            break
    return results
