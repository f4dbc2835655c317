"""The colour analyser of the embed workers (`cloud.embeddings.analysers` name ``colours``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cloud.attributes.colours import PartColours, crop_colours
from cloud.attributes.geometry import box_in_crop
from cloud.attributes.models import PAIRS, DetectionColours
from cloud.detections.models import Detection

if TYPE_CHECKING:
    from cloud.embeddings.embedder import Image

PERSON = "person"
"""The detector class whose upper and lower body are named apart (COCO's name)."""

_FIELDS = [field for pair in PAIRS.values() for names in pair for field in names]


def _values(part: str, colours: PartColours | None) -> dict[str, Any]:
    (main, main_share), (second, second_share) = PAIRS[part]
    if colours is None:
        return {main: "", main_share: 0.0, second: "", second_share: 0.0}
    return {
        main: colours.main,
        main_share: colours.main_share,
        second: colours.second,
        second_share: colours.second_share,
    }


def analyse_colours(row: Detection, image: Image) -> DetectionColours:
    """The (unsaved) colour row of one decoded crop of `row`."""
    height, width = image.shape[:2]
    box = box_in_crop(
        (row.x_min, row.y_min, row.x_max, row.y_max),
        (row.frame_width, row.frame_height),
        (width, height),
    )
    colours = crop_colours(image, box, person=row.label == PERSON)
    return DetectionColours(
        detection=row,
        **_values("whole", colours.whole),
        **_values("upper", colours.upper),
        **_values("lower", colours.lower),
    )


class ColourAnalyser:
    """Names each crop's colours and stores them, replacing an earlier analysis (idempotent)."""

    def analyse(self, crops: Sequence[tuple[Detection, Image]]) -> None:
        """Store the colours of these crops (`cloud.embeddings.analysers.CropAnalyser`)."""
        DetectionColours.objects.bulk_create(
            [analyse_colours(row, image) for row, image in crops],
            update_conflicts=True,
            unique_fields=["detection"],
            update_fields=_FIELDS,
        )
