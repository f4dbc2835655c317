"""Text search on real vtest.avi crops (tests/cloud/attributes/vtest_people.py: colours checked
by eye), with the offline MiniLM model matching the words."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from cloud import backends
from cloud.attributes.analyser import ColourAnalyser
from cloud.detections.models import Detection
from cloud.detections.services import NewDetection, record_detection
from cloud.embeddings.embedder import decode_jpeg
from cloud.fleet.models import Device
from cloud.lib.objectstore import ObjectStore
from cloud.search.criteria import SearchCriteria
from cloud.search.sentences import sentence_encoder
from cloud.search.text import search_text
from cloud.search.vocabulary import (
    MAX_QUERY_CHARS,
    DetectorClasses,
    TextQueryError,
    Vocabulary,
)
from tests.cloud.attributes.vtest_people import (
    ALL,
    JEANS_MAN,
    RED_NAVY_MAN,
    RED_TOP_WOMAN,
    TEAL_CAR,
    VAN,
    Seen,
    detection,
)
from tests.models.built_models import require_model
from tests.users import make_user


@pytest.fixture(scope="module")
def words() -> Vocabulary:
    require_model("minilm-l6")
    # The detector's classes only: user labels come from the database, which a module's
    # fixture cannot read (tests/cloud/labels/test_label_search.py reads them).
    return Vocabulary(list(DetectorClasses().terms()), sentence_encoder().encode)


@pytest.fixture
def seen(
    provisioned_device: Device,
    objects: ObjectStore,
    make_detection: Callable[..., NewDetection],
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Seen]:
    """The vtest.avi objects ingested and analysed as the embed worker does; by detection id."""
    monkeypatch.setattr(backends, "object_store", lambda: objects)
    by_id = {}
    for item in ALL:
        new = detection(item, make_detection)
        record_detection(new, objects)
        by_id[new.id] = item
    rows = Detection.objects.all()
    ColourAnalyser().analyse([(row, decode_jpeg(objects.get(row.object_key))) for row in rows])
    return by_id


def found(query: str, words: Vocabulary, seen: dict[str, Seen], **criteria: Any) -> list[Seen]:
    results = search_text(query, SearchCriteria(**criteria), words=words)
    return [seen[row.id] for row in results.top(0, 100)]


@pytest.mark.parametrize(
    ("query", "understood"),
    [
        ("pedestrian", "person"),
        ("automobile", "car"),
        ("man in a red jacket", "person, upper body red"),
        ("a woman with blue jeans", "person, lower body blue"),
        ("jacket that is crimson", "person, upper body red"),
        ("white van", "car, white"),
    ],
)
def test_queries_are_understood_as_the_page_says(
    words: Vocabulary, query: str, understood: str
) -> None:
    assert words.parse(query).describe() == understood


def test_pedestrian_finds_the_persons_and_automobile_the_cars(
    words: Vocabulary, seen: dict[str, Seen]
) -> None:
    assert {item.label for item in found("pedestrian", words, seen)} == {"person"}
    assert len(found("pedestrian", words, seen)) == 5
    assert set(found("automobile", words, seen)) == {VAN, TEAL_CAR}


def test_a_red_jacket_ranks_red_upper_bodies_first(
    words: Vocabulary, seen: dict[str, Seen]
) -> None:
    assert found("man in a red jacket", words, seen) == [RED_TOP_WOMAN, RED_NAVY_MAN]
    # Pages are cut from the merged ranking.
    second_page = search_text("man in a red jacket", SearchCriteria(), words=words).top(1, 1)
    assert [seen[row.id] for row in second_page] == [RED_NAVY_MAN]
    jeans = found("blue jeans", words, seen)
    assert jeans[0] == JEANS_MAN  # blue is the main colour of his lower body (96%)
    assert RED_TOP_WOMAN in jeans[1:]  # dark jeans: blue is her lower body's second colour


def test_text_results_keep_the_pages_filters(words: Vocabulary, seen: dict[str, Seen]) -> None:
    assert found("pedestrian", words, seen, camera_ids=()) == []
    assert found("pedestrian", words, seen, labels=("car",)) == []
    assert set(found("red", words, seen, labels=("person",))) == {RED_TOP_WOMAN, RED_NAVY_MAN}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Type what to look for"),
        ("   ...  ", "Type what to look for"),
        ("red " * (MAX_QUERY_CHARS // 4 + 1), f"at most {MAX_QUERY_CHARS} characters"),
        ("person\x00", "control characters"),
        ("<script>alert(1)</script>", "Nothing in"),
        ("zxqv", "Nothing in"),
    ],
)
def test_queries_that_cannot_be_searched_say_why(
    words: Vocabulary, query: str, message: str
) -> None:
    with pytest.raises(TextQueryError, match=message):
        words.parse(query)


def test_the_text_page_shows_what_it_understood_and_explains_bad_queries(
    client: Client, words: Vocabulary, seen: dict[str, Seen]
) -> None:
    client.force_login(make_user("viewer"))

    response = client.get("/text/", {"q": "man in a red jacket"})
    assert response.status_code == 200
    assert "Understood as: <strong>person, upper body red</strong>" in response.text
    assert [seen[card.detection.id] for card in response.context["cards"]] == [
        RED_TOP_WOMAN,
        RED_NAVY_MAN,
    ]

    hostile = client.get("/text/", {"q": "'; DROP TABLE detections; -- <b>x</b>"})
    assert hostile.status_code == 200
    assert "<b>x</b>" not in hostile.text
    assert Detection.objects.count() == len(ALL)

    beyond = client.get("/text/", {"q": "pedestrian", "page": "99999999999999999999"})
    assert beyond.status_code == 200 and beyond.context["page_number"] == 1

    for bad in ("", "x" * (MAX_QUERY_CHARS + 1)):
        response = client.get("/text/", {"q": bad})
        assert response.status_code == 200
        assert 'role="alert"' in response.text
