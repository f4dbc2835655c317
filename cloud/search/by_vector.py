"""Similar search from a query vector that belongs to no stored detection (an uploaded image's
object or face): the nearest tracks under the search filters.

One function, so that query by example can be pointed at another similar search (one that
scores whole tracks, say) in one place.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy.typing as npt

from cloud.lib.objectstore import ObjectStore
from cloud.lib.vectorstore import MAX_K, VectorStore
from cloud.search.criteria import SearchCriteria
from cloud.search.results import NEIGHBOURS_PER_RESULT, CropCard, _closest_per_track


def similar_to_vector(
    vector: npt.ArrayLike,
    criteria: SearchCriteria,
    *,
    vectors: VectorStore,
    objects: ObjectStore,
    k: int,
    exclude_track: str = "",
    exclude_ids: Collection[str] = (),
) -> list[CropCard]:
    """The `k` tracks whose vectors in `vectors` are most like `vector`, best first, one card
    per track (its closest crop), each matching `criteria`; never `exclude_track` nor
    `exclude_ids`. Raises what the vector store raises, `VectorStoreUnavailable` included."""
    hits = vectors.query(
        vector,
        k=min(MAX_K, k * NEIGHBOURS_PER_RESULT),
        filters=criteria.vector_filters(exclude_ids=exclude_ids),
    )
    return _closest_per_track(hits, exclude_track, objects, k)
