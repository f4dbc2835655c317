"""Which images of a dataset are for training and which for validation: by track.

Frames of one object are near-duplicates, so an object with images on both sides would make
the validation figures look better than the detector is. Tracks that share an image are bound
together (union-find), and each such group goes wholly to one side, chosen by a hash of its
smallest track id: the same tracks land on the same side in every export, however the dataset
around them grows, and no random seed needs keeping.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from enum import StrEnum


class Split(StrEnum):
    """The side of the split an image is on; also its folder name in the archive."""

    TRAIN = "train"
    VAL = "val"


def track_hash(track_id: str) -> float:
    """A stable, uniform number in [0, 1) for a track id (the first 64 bits of its SHA-256)."""
    digest = hashlib.sha256(track_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class _Groups:
    """Union-find over track ids."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def find(self, track: str) -> str:
        root = self._parent.setdefault(track, track)
        while root != self._parent[root]:
            root = self._parent[root]
        while track != root:  # path compression
            self._parent[track], track = root, self._parent[track]
        return root

    def join(self, tracks: Iterable[str]) -> None:
        roots = sorted({self.find(track) for track in tracks})
        for other in roots[1:]:
            # The smallest id stays the root, so a group's key does not depend on order.
            self._parent[other] = roots[0]


def split_by_track(images: Sequence[frozenset[str]], val_fraction: float) -> list[Split]:
    """The side of each image, given the track ids each shows.

    About `val_fraction` of the groups of tracks go to validation. A small dataset keeps
    both sides: when the hash puts no group there but there are at least two, the one with the
    smallest hash goes; when it puts every group there, the one with the largest stays for
    training. An image without tracks is for training.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), not {val_fraction}")
    groups = _Groups()
    for tracks in images:
        if tracks:
            groups.join(tracks)
    roots = {groups.find(track) for tracks in images for track in tracks}
    val = {root for root in roots if track_hash(root) < val_fraction}
    if val_fraction > 0 and not val and len(roots) >= 2:
        val = {min(roots, key=track_hash)}
    if val and val == roots:
        val.discard(max(roots, key=track_hash))
    return [
        Split.VAL if tracks and groups.find(next(iter(tracks))) in val else Split.TRAIN
        for tracks in images
    ]
