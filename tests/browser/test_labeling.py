"""A labeler's journey in a real browser, on crops of vtest.avi embedded by the real crop
model (the analyst journey's data: the lobby saw frames 0 and 3, the yard frame 3).

From the grid's "Label" link on the parked van, the labeler makes the label "delivery van",
selects the van and its two nearest look-alikes with a click and a shift-click and presses P,
marks three people negative with a range and N, marks one more by mistake and takes it back
with Z, then finds the label in text search and in the grid's Label filter, and reads the
label's history. A viewer sees the label but cannot mark (403), and a labeler scoped to the
lobby cannot mark a yard crop (404), even posting the form by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from cloud.access.models import Access, Role
from cloud.detections.models import Detection
from tests.browser.conftest import log_in
from tests.browser.test_analyst_journey import PASSWORD, crops
from tests.users import make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]
__all__ = ["crops"]

LABEL = "delivery van"


@pytest.fixture
def people(crops: dict[str, Detection]) -> dict[str, Detection]:
    """A labeler who sees everything ("lena"), a viewer ("vera"), and "door" (the analyst
    journey's user, scoped to the lobby) made a labeler; the crops, unchanged."""
    make_user("lena", Role.LABELER, password=PASSWORD)
    make_user("vera", Role.VIEWER, password=PASSWORD)
    Access.objects.filter(user__username="door").update(role=Role.LABELER)
    return crops


def card(page: Page, row: Detection) -> object:
    """The card showing `row`'s crop (its object key is in the image's signed URL)."""
    return page.locator(f"li.crop:has(img[src*='{row.id}'])")


def post_form(page: Page, url: str, data: dict[str, str]) -> int:
    """POST a form to `url` as the page's user would (session and CSRF token): its status."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(url, form={"csrfmiddlewaretoken": token, **data})
    return response.status


def test_labelers_mark_with_keys_and_ranges_undo_and_find_the_label_within_their_roles(
    live_server: LiveServer, people: dict[str, Detection], page: Page, screenshots: Path
) -> None:
    van = people["lobby/van/0"]
    log_in(page, f"{live_server.url}/", "lena", PASSWORD)
    card(page, van).get_by_role("link", name="Label").click()
    expect(page.get_by_role("heading", name="Label this car")).to_be_visible()
    page.get_by_label("Name").fill(LABEL)
    page.get_by_role("button", name="Make label").click()
    expect(page.get_by_role("heading", name=f"Label “{LABEL}”")).to_be_visible()
    page.screenshot(path=screenshots / "labeling-0-similar.png", full_page=True)

    # The van's twins (lobby and yard, frame 3) are its two nearest sightings.
    similar = page.locator("ol.ranked > li.markable")
    twins = {people["lobby/van/3"].id, people["yard/van/3"].id}
    top = {similar.nth(i).get_attribute("data-detection") for i in range(2)}
    assert top == twins
    page.locator("section.query li.markable img").click()
    similar.nth(1).locator("img").click(modifiers=["Shift"])
    expect(page.locator("[data-selected-count]")).to_have_text("3 selected")
    page.keyboard.press("p")
    expect(page.locator(".message")).to_contain_text("Positive: 3 of 3 crops changed")
    expect(page.locator("li.mark-positive")).to_have_count(3)

    # Three people, a range from the fourth similar sighting to the sixth, negative.
    similar.nth(3).locator("img").click()
    similar.nth(5).locator("img").click(modifiers=["Shift"])
    page.keyboard.press("n")
    expect(page.locator(".message")).to_contain_text("Negative: 3 of 3 crops changed")
    expect(page.locator("li.mark-negative")).to_have_count(3)
    page.screenshot(path=screenshots / "labeling-1-marked.png", full_page=True)

    # A slip (a person marked positive), taken back with Z.
    slip = similar.nth(6)
    slipped = slip.get_attribute("data-detection")
    slip.locator("img").click()
    page.keyboard.press("p")
    expect(page.locator("li.mark-positive")).to_have_count(4)
    page.keyboard.press("z")
    expect(page.locator(".message")).to_contain_text("Undone")
    expect(page.locator("li.mark-positive")).to_have_count(3)
    expect(page.locator(f"li[data-detection='{slipped}'] .mark-state")).to_have_text("Not marked")
    page.screenshot(path=screenshots / "labeling-2-undone.png", full_page=True)

    page.get_by_role("link", name="← All sightings").click()
    page.get_by_label("Describe what to find").fill(LABEL)
    page.get_by_role("button", name="Search text").click()
    expect(page.locator(".understood")).to_contain_text(LABEL)
    found = {item.get_attribute("src") or "" for item in page.locator("ol.ranked > li img").all()}
    assert len(found) == 3 and all(any(pk in src for pk in {van.id, *twins}) for src in found)
    page.screenshot(path=screenshots / "labeling-3-text-search.png", full_page=True)

    page.get_by_role("link", name="← All sightings").click()
    page.get_by_label("Label", exact=True).select_option(label=LABEL)
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("ul.crops > li")).to_have_count(3)

    page.get_by_role("link", name="Labels", exact=True).click()
    page.get_by_role("link", name=LABEL).click()
    history = page.locator("#history tbody tr")
    expect(history).to_have_count(4)
    expect(history.nth(0)).to_contain_text("undo: 1 cleared")
    expect(history.nth(1)).to_contain_text("(undone)")
    expect(page.locator("ul.positives > li")).to_have_count(3)
    expect(page.locator("ul.negatives > li")).to_have_count(3)
    page.keyboard.press("a")
    expect(page.locator("[data-selected-count]")).to_have_text("6 selected")
    page.screenshot(path=screenshots / "labeling-4-label-page.png", full_page=True)
    page.keyboard.press("Escape")
    expect(page.locator("li.markable.selected")).to_have_count(0)

    # The same label for a labeler scoped to the lobby, then for a viewer.
    label_url = page.url
    label_id = re.search(r"/labels/(\d+)/$", label_url).group(1)  # type: ignore[union-attr]
    marks = f"{live_server.url}/labels/{label_id}/marks/"
    lobby, yard = people["lobby/woman/0"], people["yard/woman/3"]
    page.context.clear_cookies()
    log_in(page, label_url, "door", PASSWORD)
    expect(page.locator("ul.positives > li")).to_have_count(2)  # the yard's van is not shown
    assert post_form(page, marks, {"detection": yard.id, "value": "positive"}) == 404
    page.goto(f"{live_server.url}/labels/{label_id}/crops/{yard.id}/")
    expect(page.get_by_role("heading", name="No such crop")).to_be_visible()
    assert post_form(page, marks, {"detection": lobby.id, "value": "positive"}) == 200

    page.context.clear_cookies()
    log_in(page, label_url, "vera", PASSWORD)
    expect(page.locator("ul.positives > li")).to_have_count(4)
    expect(page.get_by_role("button", name="Positive P")).to_have_count(0)
    assert post_form(page, marks, {"detection": lobby.id, "value": "negative"}) == 403
    page.goto(f"{live_server.url}/labels/{label_id}/crops/{lobby.id}/")
    expect(page.get_by_text("Marking needs the labeler role")).to_be_visible()
    expect(page.locator(f"li[data-detection='{lobby.id}'] .mark-state")).to_have_text("Positive")
    page.screenshot(path=screenshots / "labeling-5-viewer.png", full_page=True)
