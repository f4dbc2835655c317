"""Further work the embed worker does on every crop it decodes: the crop analysers.

The appearance vector is what every crop needs; other models read the same decoded crops once
they are in memory (colour attributes, faces inside person crops, an image-text model's
vectors), so they run in the same task instead of fetching and decoding each crop again.

An analyser is registered in `ANALYSERS` by name and enabled by `settings.CROP_ANALYSERS`. It is
built once per worker process, on first use. The contract that keeps retries safe:

- `analyse` is idempotent per detection: a crop analysed again (a retried task, `reembed`)
  overwrites its earlier results, never adds a second copy.
- A transient failure (a store down: `cloud.embeddings.services.TRANSIENT_ERRORS`) propagates,
  and the whole batch runs again later. A problem with one crop (nothing found in it, a model
  that cannot read it) is that crop's result, not an exception.
- It runs after the crops' appearance vectors are stored and before the rows are marked
  embedded, so a crop marked embedded has been through every enabled analyser.

After the analysers, the crops' appearance vectors go to every `VECTOR_CONSUMERS` entry: the
features that act on what a new crop looks like (a label's suggestions and learned classifier,
alerts). They are part of the product, not options, so they always run; with nothing to act on
(no labels, no alerts) they cost a query or two. They keep the analysers' contract, and run in
the order listed, so a later one sees what an earlier one stored for the same crops.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final, Protocol

import numpy as np
import numpy.typing as npt
from django.conf import settings

from cloud import backends
from cloud.detections.models import Detection

if TYPE_CHECKING:
    from cloud.embeddings.embedder import Image


class CropAnalyser(Protocol):
    """One analysis of decoded crops; see the module docstring for the contract."""

    def analyse(self, crops: Sequence[tuple[Detection, Image]]) -> None:
        """Analyse these crops (BGR images, as decoded) and store the results."""
        ...


ANALYSERS: Final[Mapping[str, str]] = {
    "colours": "cloud.attributes.analyser:ColourAnalyser",
    "faces": "cloud.faces.analyser:build",
    "image_text": "cloud.imagetext.analyser:build",
}
"""Analyser name -> ``module:factory`` (a callable with no arguments that builds it), imported
only when the analyser is enabled, so a process never loads a model it does not run."""


def _build_enabled() -> tuple[CropAnalyser, ...]:
    names: Sequence[str] = settings.CROP_ANALYSERS
    unknown = sorted(set(names) - ANALYSERS.keys())
    if unknown:
        raise ValueError(
            f"unknown crop analysers {unknown} in settings; known: {sorted(ANALYSERS)}"
        )
    return tuple(pkgutil.resolve_name(ANALYSERS[name])() for name in names)


class VectorConsumer(Protocol):
    """Acts on new crops' appearance vectors; see the module docstring for the contract."""

    def __call__(self, detections: Sequence[Detection], vectors: npt.NDArray[np.float32]) -> None:
        """Act on these crops; row i of `vectors` is the unit vector of `detections[i]`."""
        ...


VECTOR_CONSUMERS: Final[Sequence[str]] = (
    "cloud.labels.suggestions:score_new_crops",
    "cloud.learned.scoring:score_new_crops",
    # Last: it reads the scores the labels' consumers stored for the same crops.
    "cloud.alerts.matching:match_new_crops",
)
"""``module:function`` of every `VectorConsumer`, in the order they run."""


def vector_consumers() -> tuple[VectorConsumer, ...]:
    """The `VECTOR_CONSUMERS`, imported."""
    return tuple(pkgutil.resolve_name(name) for name in VECTOR_CONSUMERS)


enabled_analysers: Final = backends.Once(_build_enabled)
"""This process's enabled analysers, in the order the settings list them."""
