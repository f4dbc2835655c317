"""Text-to-image search with the image-text plug-in (`cloud.imagetext`): the query goes
through the tokenizer and the text encoder, is L2-normalised, and is looked up in the crops'
image-text collection under the page's filters; a track shows once, by its nearest crop.

Public surface: `search_image_text(query, criteria, ...)`.
"""

from __future__ import annotations

from cloud.imagetext.analyser import image_text_collection
from cloud.imagetext.model import ImageTextModel, image_text_model
from cloud.lib.objectstore import ObjectStore
from cloud.lib.vectorstore import VectorStore
from cloud.search.criteria import SearchCriteria
from cloud.search.results import CropCard, vector_cards
from cloud.search.vocabulary import query_words


def search_image_text(
    query: str,
    criteria: SearchCriteria,
    *,
    k: int,
    objects: ObjectStore,
    model: ImageTextModel | None = None,
    vectors: VectorStore | None = None,
) -> list[CropCard]:
    """The `k` tracks whose crops the image-text model finds nearest to `query`, best first,
    one card each (its nearest crop, scored by cosine similarity in [-1, 1]).

    Raises `cloud.search.vocabulary.TextQueryError` for an empty, too long or control-character
    query, and what the vector store raises (`VectorStoreUnavailable`). The model and the
    collection default to this process's.
    """
    query_words(query)
    model = model or image_text_model()
    vectors = vectors or image_text_collection(model)
    (vector,) = model.embed_texts([query.strip()])
    return vector_cards(vector, criteria, vectors=vectors, objects=objects, k=k)
