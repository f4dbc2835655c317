"""Search by example: upload an image, then search by one of the objects or faces found in it;
and face search from the face in a stored crop.

The page's analysis (`cloud.search.example.analyse_upload`: the cloud detector, the crop
embedder, YuNet and SFace) under the page's limits: the same upload budget per user and minute
(429), file size (413) and image checks (400). The page keeps an upload's analysis in the
browser's session; a token caller has none, so the API keeps it in the cache, by user, for
`UPLOAD_LIFETIME_S` (a shared cache where several web processes serve the API, as for the
upload budget). Searches run `cloud.search.results.vector_cards` within the caller's cameras.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import numpy.typing as npt
from django.core.cache import cache
from django.http import Http404, HttpRequest
from ninja import Field, File, Query, Router, Schema, Status, UploadedFile

from cloud import backends
from cloud.api.cards import DetectionOut, TrackOut, detection_out, track_out
from cloud.api.detections import MAX_SIMILAR, visible_detection
from cloud.api.filters import Filters, criteria
from cloud.faces.recognizer import SAME_PERSON_COSINE
from cloud.faces.vectors import face_vectors
from cloud.search.example import QueryChoice, UploadAnalysis, analyse_upload, example_settings
from cloud.search.example_views import RESULTS_K, take_upload_slot
from cloud.search.results import CropCard, detection_cards, vector_cards
from cloud.search.uploads import decode_upload, too_large_message

router = Router(tags=["search by example"])

UPLOAD_LIFETIME_S: Final = 3600
"""How long an upload's objects and faces can be searched by, in seconds."""


class ErrorOut(Schema):
    """A refusal, said for the user."""

    detail: str


class ChoiceOut(Schema):
    """One object, the whole image, or one face of an upload."""

    index: int = Field(description="Its number in its list, for the search by it.")
    kind: Literal["object", "whole", "face"]
    label: str = Field(description='Detector class; "whole image" or "face" otherwise.')
    score: float | None = Field(description="Detector score (null for the whole image).")
    box: tuple[int, int, int, int] = Field(description="x1, y1, x2, y2 in the image's pixels.")
    thumbnail: str = Field(description="A JPEG of it as a data: URL.")


class UploadOut(Schema):
    """What was found in an upload."""

    upload_id: str = Field(description=f"Searchable by for {UPLOAD_LIFETIME_S} seconds.")
    width: int
    height: int
    objects: list[ChoiceOut] = Field(
        description="Detected objects, best first, then the whole image (always the last)."
    )
    faces: list[ChoiceOut]


class ExampleQuery(Filters):
    """The search pages' filters, and how many tracks to return."""

    k: int = Field(RESULTS_K, ge=1, le=MAX_SIMILAR, description="Tracks to return (at most).")


class FaceHit(TrackOut):
    """A track with a face like the query's."""

    same_person: bool = Field(
        description=f"SFace's verdict: similarity at least {SAME_PERSON_COSINE} "
        "(`cloud.faces.recognizer.SAME_PERSON_COSINE`, the model's own threshold)."
    )


class ObjectResultsOut(Schema):
    """The tracks most like one object of an upload, most similar first."""

    choice: ChoiceOut
    items: list[TrackOut]


class FaceResultsOut(Schema):
    """The tracks whose faces are most like the query face, most similar first."""

    has_face: bool = Field(description="False when the query crop has no face vector.")
    query: ChoiceOut | DetectionOut | None = Field(
        description="The upload's face, or the stored crop searched from."
    )
    items: list[FaceHit]


@router.post(
    "/image",
    response={201: UploadOut, 413: ErrorOut, 429: ErrorOut},
    summary="Upload an image to search by",
)
def upload(request: HttpRequest, image: File[UploadedFile]) -> Status[UploadOut | ErrorOut]:
    """Detect the objects and faces of a JPEG or PNG image (multipart field `image`) and keep
    them to search by. 400: not a usable image; 413: too large; 429: too many uploads a
    minute (the page's budget); 503: a model is unavailable."""
    config = example_settings()
    if not take_upload_slot(request, config.uploads_per_minute):
        message = f"Too many uploads: at most {config.uploads_per_minute} a minute."
        return Status(429, ErrorOut(detail=message))
    if image.size is not None and image.size > config.max_upload_bytes:
        return Status(413, ErrorOut(detail=too_large_message(config.max_upload_bytes)))
    pixels = decode_upload(
        image.read(), max_bytes=config.max_upload_bytes, max_pixels=config.max_pixels
    )
    analysis = analyse_upload(pixels, config)
    cache.set(_key(request, analysis.upload_id), analysis.to_session(), UPLOAD_LIFETIME_S)
    found = UploadOut(
        upload_id=analysis.upload_id,
        width=analysis.width,
        height=analysis.height,
        objects=[_choice(i, choice) for i, choice in enumerate(analysis.objects)],
        faces=[_choice(i, choice) for i, choice in enumerate(analysis.faces)],
    )
    return Status(201, found)


@router.get("/image/{upload_id}/objects/{index}", response=ObjectResultsOut)
def by_object(
    request: HttpRequest, upload_id: str, index: int, query: Query[ExampleQuery]
) -> ObjectResultsOut:
    """The tracks most like one object (or the whole image) of an upload, under the filters."""
    choice, cards = _by_choice(request, upload_id, index, query, face=False)
    return ObjectResultsOut(choice=choice, items=[track_out(request, card) for card in cards])


@router.get("/image/{upload_id}/faces/{index}", response=FaceResultsOut)
def by_face(
    request: HttpRequest, upload_id: str, index: int, query: Query[ExampleQuery]
) -> FaceResultsOut:
    """The tracks with faces most like one face of an upload, with SFace's verdict."""
    choice, cards = _by_choice(request, upload_id, index, query, face=True)
    return FaceResultsOut(has_face=True, query=choice, items=_faces(request, cards))


@router.get("/faces/{detection_id}", response=FaceResultsOut)
def by_stored_face(
    request: HttpRequest, detection_id: str, query: Query[ExampleQuery]
) -> FaceResultsOut:
    """The other tracks with faces most like the face in one stored person crop."""
    found = visible_detection(request, detection_id)
    shown = detection_out(request, detection_cards([found], backends.object_store())[0])
    item = face_vectors().get(found.id)
    if item is None:
        return FaceResultsOut(has_face=False, query=shown, items=[])
    cards = _search(request, item.vector, query, face=True, exclude_track=found.track_id)
    return FaceResultsOut(has_face=True, query=shown, items=_faces(request, cards))


def _key(request: HttpRequest, upload_id: str) -> str:
    return f"api-example-upload:{request.user.pk}:{upload_id}"


def _by_choice(
    request: HttpRequest, upload_id: str, index: int, query: ExampleQuery, *, face: bool
) -> tuple[ChoiceOut, list[CropCard]]:
    """One object or face of the caller's upload, and the tracks most like it."""
    choice = uploaded_choice(request, upload_id, index, face=face)
    return _choice(index, choice), _search(request, choice.vector, query, face=face)


def uploaded_choice(request: HttpRequest, upload_id: str, index: int, *, face: bool) -> QueryChoice:
    """Object (or face) `index` of the caller's upload `upload_id`; `Http404` when the upload
    expired, is another user's, or has no such choice."""
    data = cache.get(_key(request, upload_id))
    if data is None:
        raise Http404("no such upload: it expired, or another user made it; upload it again")
    analysis = UploadAnalysis.from_session(data)
    choices = analysis.faces if face else analysis.objects
    if not 0 <= index < len(choices):
        raise Http404(f"the upload has no {'face' if face else 'object'} {index}")
    return choices[index]


def _search(
    request: HttpRequest,
    vector: npt.NDArray[np.float32],
    query: ExampleQuery,
    *,
    face: bool,
    exclude_track: str | None = None,
) -> list[CropCard]:
    wanted, _ = criteria(request, query)
    return vector_cards(
        vector,
        wanted,
        vectors=face_vectors() if face else backends.vector_store(),
        objects=backends.object_store(),
        k=query.k,
        exclude_track=exclude_track,
    )


def _faces(request: HttpRequest, cards: list[CropCard]) -> list[FaceHit]:
    return [
        FaceHit(
            **track_out(request, card).model_dump(),
            same_person=(card.similarity or 0.0) >= SAME_PERSON_COSINE,
        )
        for card in cards
    ]


def _choice(index: int, choice: QueryChoice) -> ChoiceOut:
    return ChoiceOut(
        index=index,
        kind=choice.kind,
        label=choice.label,
        score=choice.score,
        box=choice.box,
        thumbnail=f"data:image/jpeg;base64,{choice.thumbnail_base64}",
    )
