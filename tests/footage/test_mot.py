"""The vtest.avi ground truth loads and is consistent, and the MOT metrics react to id errors."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from tests.footage.mot import HEIGHT, SAMPLED, WIDTH, TrackBox, evaluate, load


@pytest.fixture(scope="module")
def truth() -> list[TrackBox]:
    return load()


def test_every_sampled_frame_is_annotated_and_no_other(truth: list[TrackBox]) -> None:
    assert {box.frame for box in truth} == set(SAMPLED)
    assert len(SAMPLED) * 5 >= 200  # the stretch covers 200 consecutive frames


def test_one_box_per_person_and_frame(truth: list[TrackBox]) -> None:
    counts = Counter((box.frame, box.track) for box in truth)
    assert max(counts.values()) == 1


def test_boxes_are_inside_the_frame_and_not_empty(truth: list[TrackBox]) -> None:
    for box in truth:
        assert 0 <= box.x1 < box.x2 <= WIDTH, box
        assert 0 <= box.y1 < box.y2 <= HEIGHT, box
        assert 0 < box.visibility <= 1, box


def test_people_are_followed_for_more_than_one_frame(truth: list[TrackBox]) -> None:
    frames_per_person = Counter(box.track for box in truth)
    assert len(frames_per_person) >= 8
    assert min(frames_per_person.values()) >= 5


def test_the_ground_truth_scores_perfectly_against_itself(truth: list[TrackBox]) -> None:
    scores = evaluate(truth, truth)
    assert scores.idf1 == pytest.approx(1.0)
    assert scores.mota == pytest.approx(1.0)
    assert (scores.id_switches, scores.fragmentations, scores.mixed_tracks) == (0, 0, 0)
    assert scores.predicted_tracks == scores.true_tracks


def test_swapping_two_people_half_way_costs_identity(truth: list[TrackBox]) -> None:
    # Persons 1 and 2 are both on every frame from the first sampled one on for a while: hand
    # each one's id to the other from the middle of their common frames.
    common = sorted(
        {b.frame for b in truth if b.track == 1} & {b.frame for b in truth if b.track == 2}
    )
    middle = common[len(common) // 2]
    swapped = [
        replace(box, track=3 - box.track) if box.track in (1, 2) and box.frame >= middle else box
        for box in truth
    ]
    scores = evaluate(truth, swapped)
    assert scores.idf1 < 1.0
    assert scores.id_switches == 2
    assert scores.mixes == ((1, (1, 2)), (2, (1, 2)))
    assert scores.mota < 1.0


def test_a_missing_track_lowers_recall_but_not_precision(truth: list[TrackBox]) -> None:
    scores = evaluate(truth, [box for box in truth if box.track != 1])
    assert scores.recall < 1.0
    assert scores.precision == pytest.approx(1.0)
    assert scores.id_switches == 0


def test_a_malformed_line_names_its_place(tmp_path: Path) -> None:
    path = tmp_path / "gt.txt"
    path.write_text("101,1,0,0,10,20,1,1,1\n102,1,0,0\n")
    with pytest.raises(ValueError, match=r"gt\.txt:2"):
        load(path)
