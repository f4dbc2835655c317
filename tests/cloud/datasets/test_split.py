"""The train/val split by track: whole groups of tracks per side, stable, never empty."""

from __future__ import annotations

import pytest

from cloud.datasets.split import Split, split_by_track, track_hash

TRACKS = [f"track-{n}" for n in range(200)]


def test_about_the_fraction_of_tracks_goes_to_validation_and_stays_there() -> None:
    images = [frozenset({track}) for track in TRACKS]

    sides = split_by_track(images, 0.2)
    grown = split_by_track([*images, *(frozenset({f"new-{n}"}) for n in range(50))], 0.2)

    assert 25 <= sides.count(Split.VAL) <= 55
    assert grown[: len(images)] == sides  # more data never moves a track to the other side


def test_tracks_that_share_an_image_go_to_the_same_side() -> None:
    # Chains of tracks seen together: a-b on one image, b-c on another, c alone on a third.
    images = []
    for n in range(0, 120, 3):
        a, b, c = TRACKS[n : n + 3]
        images += [frozenset({a, b}), frozenset({b, c}), frozenset({c})]

    sides = split_by_track(images, 0.3)

    for start in range(0, len(images), 3):
        assert len(set(sides[start : start + 3])) == 1
    assert Split.VAL in sides and Split.TRAIN in sides


def test_a_small_dataset_still_gets_one_group_for_validation() -> None:
    pair = sorted(TRACKS[:2], key=track_hash)
    # Both hash above a tiny fraction, so the hash alone would leave validation empty.
    assert track_hash(pair[0]) > 0.001

    sides = split_by_track([frozenset({pair[1]}), frozenset({pair[0]})], 0.001)

    assert sides == [Split.TRAIN, Split.VAL]


def test_training_keeps_a_group_when_the_hash_puts_all_in_validation() -> None:
    pair = sorted(TRACKS[:2], key=track_hash)
    assert track_hash(pair[1]) < 0.999

    sides = split_by_track([frozenset({pair[1]}), frozenset({pair[0]})], 0.999)

    assert sides == [Split.TRAIN, Split.VAL]


def test_no_validation_when_asked_for_none_or_with_one_group() -> None:
    assert set(split_by_track([frozenset({t}) for t in TRACKS], 0.0)) == {Split.TRAIN}
    assert split_by_track([frozenset({"a"}), frozenset({"a", "b"})], 0.999) == [Split.TRAIN] * 2


def test_a_fraction_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="val_fraction"):
        split_by_track([frozenset({"a"})], 1.0)
