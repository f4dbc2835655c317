"""The vector store contract: what every backend stores, returns and raises.

A vector store holds one embedding per detection, keyed by the detection id the edge made,
with the few properties that search filters on. The Postgres row is the source of truth for
everything else; the vector store can always be rebuilt from it.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from cloud.lib.vectorstore.errors import CollectionNotFound, DimensionMismatch, InvalidRequest

# Never change this value: every stored object id in every deployment is derived from it,
# so a new value would turn each re-embedded detection into a duplicate.
DETECTION_NAMESPACE: Final = uuid.UUID("973792ab-3280-5a52-aa33-6731748bbcde")

MAX_K: Final = 10_000
"""Largest ``k`` a query accepts (Weaviate's default ``QUERY_MAXIMUM_RESULTS``)."""

# Weaviate's rule for class names (GraphQL type names with a capital first letter); the
# embedded store follows it too so that one setting works with either backend.
COLLECTION_NAME_PATTERN: Final = r"^[A-Z][A-Za-z0-9_]{0,126}$"

Vector = npt.NDArray[np.float32]


def object_uuid(detection_id: str) -> uuid.UUID:
    """Return the store object id for a detection id: ``uuid5(DETECTION_NAMESPACE, id)``.

    Deterministic, so a retried upload or a re-run embed task writes the same object again.
    """
    if not detection_id:
        raise InvalidRequest("detection_id must not be empty")
    return uuid.uuid5(DETECTION_NAMESPACE, detection_id)


def unit_vector(vector: npt.ArrayLike, dimension: int) -> Vector:
    """Return ``vector`` as a float32 array of norm 1, or raise.

    Raises:
        DimensionMismatch: the vector is not one-dimensional with ``dimension`` values.
        InvalidRequest: it holds NaN or infinity, or it is all zeros (a zero vector has no
            direction, so cosine similarity is undefined for it).
    """
    array = np.asarray(vector, dtype=np.float64)
    if array.shape != (dimension,):
        raise DimensionMismatch(
            f"expected a vector of {dimension} values, got an array of shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise InvalidRequest("vector holds NaN or infinite values")
    # The norm is taken in float64 so that large float32 inputs cannot overflow to inf.
    norm = float(np.linalg.norm(array))
    if norm == 0.0:
        raise InvalidRequest("vector is all zeros: cosine similarity is undefined for it")
    return (array / norm).astype(np.float32)


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidRequest(f"{name} must be a timezone-aware datetime, got naive {value}")
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class DetectionProperties:
    """What search can filter on and shows next to a hit. ``ts`` is converted to UTC."""

    device_id: str
    camera_id: str
    track_id: str
    """The edge tracker's id for the track, opaque to the cloud."""
    label: str
    """The detector class name (``person``, ``car``)."""
    ts: datetime
    """When the frame was captured; timezone-aware (naive raises ``InvalidRequest``)."""

    def __post_init__(self) -> None:
        # Frozen dataclasses set fields through object.__setattr__; this is the documented way.
        object.__setattr__(self, "ts", _utc(self.ts, "ts"))


@dataclass(frozen=True, slots=True)
class VectorItem:
    """One detection's embedding: what ``upsert`` takes and ``get`` returns."""

    detection_id: str
    """The id the edge gave the detection; the store's key."""
    vector: Vector = field(compare=False)
    """Any non-zero finite vector of the store's dimension; stores keep it L2-normalised."""
    properties: DetectionProperties


@dataclass(frozen=True, slots=True)
class Hit:
    """One query result."""

    detection_id: str
    score: float
    """Cosine similarity with the query vector, in [-1, 1]; 1 is the same direction."""
    properties: DetectionProperties


@dataclass(frozen=True, slots=True)
class Filters:
    """Restrictions on a query; every field that is set must match (AND).

    ``None`` means "no restriction" and an empty collection means "nothing matches": a user
    whose camera groups hold no camera must see no hits, not all of them.
    """

    camera_ids: Collection[str] | None = None
    device_ids: Collection[str] | None = None
    labels: Collection[str] | None = None
    since: datetime | None = None
    """Inclusive lower bound on ``ts`` (timezone-aware)."""
    until: datetime | None = None
    """Exclusive upper bound on ``ts`` (timezone-aware)."""
    exclude_ids: Collection[str] = ()
    """Detection ids never to return (the query crop itself, already labelled ones)."""

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _utc(value, name))
        # Sorted tuples: stable across runs, hashable, and cheap to turn into query arguments.
        for name in ("camera_ids", "device_ids", "labels", "exclude_ids"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise InvalidRequest(f"{name} must be a collection of strings, not one string")
            if value is not None:
                object.__setattr__(self, name, tuple(sorted(set(value))))

    @property
    def matches_nothing(self) -> bool:
        """True when no stored item can pass, so a backend can skip the round trip."""
        empty_choice = any(
            choice is not None and not choice
            for choice in (self.camera_ids, self.device_ids, self.labels)
        )
        empty_range = self.since is not None and self.until is not None and self.since >= self.until
        return empty_choice or empty_range


class VectorStoreSettingsBase(BaseModel):
    """Fields every backend's settings share. Each backend adds ``type: Literal[...]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    collection: str = Field(
        default="Detection",
        pattern=COLLECTION_NAME_PATTERN,
        description="Collection (Weaviate class, embedded table) that holds the vectors. "
        "Use a new name when the embedding model changes: vectors of two models do not mix.",
    )


def get_all(store: VectorStore, detection_ids: Sequence[str]) -> list[VectorItem]:
    """The stored items of any number of ids, read through `VectorStore.get_many` in pages of
    ``MAX_K``; ids not stored are left out, the order is the store's."""
    return [
        item
        for start in range(0, len(detection_ids), MAX_K)
        for item in store.get_many(detection_ids[start : start + MAX_K])
    ]


def check_k(k: int) -> None:
    """Raise ``InvalidRequest`` unless ``1 <= k <= MAX_K``."""
    if not 1 <= k <= MAX_K:
        raise InvalidRequest(f"k must be between 1 and {MAX_K}, got {k}")


def require_ready(ready: bool, collection: str) -> None:
    """Raise ``CollectionNotFound`` unless ``ensure_collection()`` succeeded on the instance."""
    if not ready:
        raise CollectionNotFound(
            f"collection {collection!r} is not ready: call ensure_collection() first"
        )


def check_many(detection_ids: Sequence[str]) -> None:
    """Raise ``InvalidRequest`` when ``get_many`` is asked for more than ``MAX_K`` ids."""
    if len(detection_ids) > MAX_K:
        raise InvalidRequest(f"get_many takes at most {MAX_K} ids, got {len(detection_ids)}")


def check_dimension(dimension: int) -> None:
    """Raise ``InvalidRequest`` unless ``dimension`` is a positive int."""
    if dimension < 1:
        raise InvalidRequest(f"dimension must be positive, got {dimension}")


def prepare_batch(items: Iterable[VectorItem], dimension: int) -> list[VectorItem]:
    """Validate a whole upsert batch before anything is written.

    Returns the items with unit float32 vectors and one item per id: when an id appears
    twice the later item wins, as it would with two consecutive upserts.
    """
    latest: dict[str, VectorItem] = {}
    for item in items:
        object_uuid(item.detection_id)  # rejects an empty id
        try:
            vector = unit_vector(item.vector, dimension)
        except InvalidRequest as err:
            raise type(err)(f"detection {item.detection_id!r}: {err}") from err
        latest.pop(item.detection_id, None)  # keep the order of the last occurrence
        latest[item.detection_id] = VectorItem(item.detection_id, vector, item.properties)
    return list(latest.values())


def cosine_score(similarity: float) -> float:
    """Clamp a computed cosine similarity into [-1, 1] (float32 rounding can overshoot)."""
    return min(1.0, max(-1.0, similarity))


class VectorStore(Protocol):
    """A collection of detection embeddings searched by cosine similarity.

    Contract shared by every backend (checked by ``tests/conformance/vectorstore_contract.py``):

    - The dimension is fixed when the store is built and never changes for a collection.
    - Vectors may be any non-zero finite float vector of that dimension; the store
      L2-normalises them and returns the normalised float32 vector from ``get``.
    - Object ids are ``object_uuid(detection_id)``: writing an id again overwrites it.
    - Writes are visible to every later call on any instance of the same collection.
    - Instances may be shared between threads; ``close()`` releases their connections.
    - Errors are ``VectorStoreError`` subclasses. ``VectorStoreUnavailable`` (transient:
      retry later) when the backend cannot be reached or does not answer within its
      timeout; ``InvalidRequest``/``DimensionMismatch`` (permanent) for a bad call;
      ``CollectionNotFound`` from every other method until ``ensure_collection()`` has
      succeeded on this instance (Weaviate's auto-schema would otherwise create a
      wrongly typed collection on the first write), or when the collection was removed;
      ``CollectionMismatch`` when the collection exists with another dimension.
      No call waits longer than the backend's configured timeout.
    """

    @property
    def dimension(self) -> int:
        """Length of every vector in this store."""
        ...

    def ensure_collection(self) -> None:
        """Create the collection if it is missing; idempotent and safe to race.

        Raises ``CollectionMismatch`` if it exists with another dimension or distance.
        """
        ...

    def upsert(self, items: Sequence[VectorItem]) -> None:
        """Insert or overwrite items by ``detection_id``; never creates a duplicate.

        The batch is validated first: if any item is invalid nothing is written.
        An id repeated inside the batch keeps its last item. A backend failure may leave
        part of a batch written; retrying the same call is always safe.
        """
        ...

    def delete(self, detection_ids: Iterable[str]) -> None:
        """Remove these ids; ids that are not stored are ignored (idempotent)."""
        ...

    def get(self, detection_id: str) -> VectorItem | None:
        """Return the stored item (unit vector, UTC ``ts``) or ``None`` if absent."""
        ...

    def get_many(self, detection_ids: Sequence[str]) -> list[VectorItem]:
        """Return the stored items of these ids (unit vectors, UTC ``ts``), in no set order;
        ids not stored are left out. At most ``MAX_K`` ids per call (``InvalidRequest``).

        One round trip, for readers of many vectors at once (a learned label scoring every
        stored crop) where ``get`` per id would cost a round trip each.
        """
        ...

    def query(
        self, vector: npt.ArrayLike, k: int = 10, filters: Filters | None = None
    ) -> list[Hit]:
        """Return up to ``k`` items (``1 <= k <= MAX_K``) most similar to ``vector``.

        Hits are ordered best first by cosine similarity (``Hit.score`` in [-1, 1]) and
        all pass ``filters``. Backends use an approximate (HNSW) index, so a hit may be
        missed; each has settings that trade speed for recall, and searches exactly when few
        stored items pass the filters.
        """
        ...

    def count(self) -> int:
        """Number of items stored in the collection."""
        ...

    def close(self) -> None:
        """Release connections and threads; further calls are not allowed. Idempotent."""
        ...
