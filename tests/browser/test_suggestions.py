"""A label's suggestions in a real browser: accept several in bulk, reject one.

The search journey's crops (`tests/browser/test_search.py`: pedestrians of vtest.avi cut by
OpenCV's HOG detector, embedded with the real crop model), one marked positive for a label,
and the real refresh (`cloud.labels.suggestions.refresh_suggestions`) fills the suggestions.
The user selects with
the mouse (click, Shift-click) and decides with the keyboard (A, R).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from cloud.access.models import Access, Role
from cloud.detections.models import Detection
from cloud.labels.marks import apply_marks
from cloud.labels.models import Label, Value
from cloud.labels.suggestions import refresh_suggestions
from tests.browser.test_search import Seeded, log_in, seeded

__all__ = ["seeded"]  # the search journey's crops, embedded: a fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]


# Far below the default (0.90, calibrated by tests/bench/bench_spreading.py), so that the crops
# of the four frames give the page several suggestions to decide on.
THRESHOLD = 0.7


@dataclass(frozen=True)
class Labelled:
    label: Label
    suggested: int


@pytest.fixture
def labelled(seeded: Seeded) -> Labelled:
    """A label with one positive (the walker's crop) and its suggestions refreshed; the search
    test's user made a labeler."""
    Access.objects.filter(user__username="operator").update(role=Role.LABELER)
    label = Label.objects.create(name="Pedestrian", positive_threshold=THRESHOLD)
    walker = Detection.objects.filter(track_id=seeded.walker).get()
    apply_marks(label, {walker.id: Value.POSITIVE}, User.objects.get(username="operator"))
    suggested = refresh_suggestions(label.pk).suggested
    assert suggested >= 5, f"only {suggested} suggestions"
    return Labelled(label, suggested)


def test_a_labeler_accepts_suggestions_in_bulk_and_rejects_one(
    live_server: LiveServer, labelled: Labelled, page: Page, screenshots: Path
) -> None:
    suggested = labelled.suggested
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/labels/{labelled.label.pk}/suggestions/")
    cards = page.locator(".suggestion")
    expect(cards).to_have_count(suggested)
    confidences = [
        float(value)
        for value in page.locator(".confidence data").evaluate_all(
            "nodes => nodes.map(node => node.getAttribute('value'))"
        )
    ]
    assert confidences == sorted(confidences, reverse=True) and 0 < confidences[-1] <= 1
    page.screenshot(path=screenshots / "suggestions.png", full_page=True)

    # Select all on the page, then none again.
    page.get_by_label("Select all on this page").check()
    expect(page.locator("#selected-count")).to_have_text(f"{suggested} selected")
    page.get_by_label("Select all on this page").uncheck()
    expect(page.locator(".suggestion.selected")).to_have_count(0)

    # Click the first, Shift-click the third: three selected; A accepts them.
    accepted = [cards.nth(i).get_attribute("data-track") for i in range(3)]
    cards.nth(0).locator(".facts").click()
    cards.nth(2).locator(".facts").click(modifiers=["Shift"])
    expect(page.locator("#selected-count")).to_have_text("3 selected")
    expect(page.locator(".suggestion.selected")).to_have_count(3)
    page.screenshot(path=screenshots / "suggestions-selected.png", full_page=True)
    page.keyboard.press("a")
    expect(page.locator(".message")).to_contain_text("Accepted 3 suggestions")
    expect(cards).to_have_count(suggested - 3)
    for track in accepted:
        expect(page.locator(f'.suggestion[data-track="{track}"]')).to_have_count(0)

    # Reject the now first one with R.
    rejected = cards.nth(0).get_attribute("data-track")
    cards.nth(0).locator(".facts").click()
    page.keyboard.press("r")
    expect(page.locator(".message")).to_contain_text("Rejected 1 suggestion")
    expect(page.locator(f'.suggestion[data-track="{rejected}"]')).to_have_count(0)
    assert cards.count() <= suggested - 4
    page.screenshot(path=screenshots / "suggestions-after.png", full_page=True)

    # A reload repeats nothing (the verdicts were answered with a redirect).
    page.reload()
    expect(page.locator(".message")).to_have_count(0)
    expect(page.locator("h1")).to_contain_text("Suggestions")
    assert cards.count() <= suggested - 4  # less its near-duplicates, if any
