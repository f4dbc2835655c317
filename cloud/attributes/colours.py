"""Named colours of a crop: of the whole object and, for persons, of the upper and lower body.

Public surface: `COLOURS`, `Part`, `PartColours`, `CropColours`, `name_pixels(bgr)` and
`crop_colours(image, box, person=...)`.

Each pixel is named in CIELAB, whose distances and hue angles follow perception far better than
RGB or HSV: very dark pixels are black unless strongly coloured (in shadow the hue is the
sensor's noise), pixels of little chroma are black, grey or white by lightness, the rest are
named by hue angle, with brown for dark orange-to-yellow and pink for light, weak red. The
eleven names are the basic colour terms that people use to describe clothes and cars.

A crop shows more than the object: the edge's context margin around the box, and inside the box
whatever the object does not cover (road and grass beside a walking person). Two things keep
that out. The parts are fixed bands of the box (persons: the middle half of the width; below the
head down to the waist for the upper body, the waist to above the feet for the lower body), and
pixels whose coarse colour is common in the background sample (the margin outside the box and,
for persons, the box's outer columns) are dropped before counting. When that would drop nearly
all of a part (an object the colour of its background), the part's pixels are counted as they
are, since the object is then that colour.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from cloud.attributes.geometry import PixelBox

COLOURS: Final = (
    "black",
    "grey",
    "white",
    "red",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "pink",
    "brown",
)
"""The colour names, in the order of `name_pixels`' codes."""

_CODE = {name: code for code, name in enumerate(COLOURS)}

# Lightness (L*, 0-100) below which a pixel is black unless its chroma is strong (navy cloth
# is this dark, a shadow's colour is noise); below _BLACK_ALWAYS_L it is black regardless.
_BLACK_L: Final = 18.0
_BLACK_CHROMA: Final = 20.0
_BLACK_ALWAYS_L: Final = 8.0
# Chroma (C*) below which a pixel is achromatic; the camera's colour noise is about this size.
_GREY_CHROMA: Final = 7.0
_WHITE_L: Final = 72.0
_DARK_GREY_L: Final = 32.0
# Hue angles (degrees, atan2(b*, a*)) where one name gives way to the next, measured on sRGB
# colours: red ~40, saddle brown ~57, orange ~64, yellow ~100, green ~136, cyan ~196, blue ~306,
# magenta ~328.
_RED_FROM: Final = 20.0
_ORANGE_FROM: Final = 52.0
_GREEN_FROM: Final = 112.0
_PINK_FROM: Final = 348.0
_HUES: Final = (
    (_RED_FROM, "pink"),
    (_ORANGE_FROM, "red"),
    (85.0, "orange"),
    (_GREEN_FROM, "yellow"),
    (205.0, "green"),
    (318.0, "blue"),
    (_PINK_FROM, "purple"),
    (360.0, "pink"),
)
# Orange to yellow hues this dark are brown; so is a dull, dark red.
_BROWN_L: Final = 45.0
_BROWN_RED_L: Final = 32.0
_BROWN_RED_CHROMA: Final = 30.0
# A red this light and weak is pink; a pink this dark and strong is red (crimson, not rose).
_PINK_L: Final = 70.0
_PINK_CHROMA: Final = 45.0

# Coarse colour bins for the background test: L* in steps of 12.5, a* and b* in steps of 12.
_BIN_L: Final = 12.5
_BIN_AB: Final = 12.0
# A bin holding this share of the background sample is background.
_BACKGROUND_SHARE: Final = 0.04
# Below this share of a part's pixels left after dropping background, count them all.
_MIN_FOREGROUND: Final = 0.2
# Parts smaller than this many pixels are not named.
_MIN_PIXELS: Final = 12


class Part(enum.StrEnum):
    """Which part of the object a colour describes."""

    WHOLE = "whole"
    UPPER = "upper"
    LOWER = "lower"


# Bands of the person box (fractions of its width and height): (x1, y1, x2, y2).
_PERSON_BANDS: Final = {
    Part.WHOLE: (0.25, 0.12, 0.75, 0.9),
    Part.UPPER: (0.25, 0.15, 0.75, 0.48),
    Part.LOWER: (0.3, 0.55, 0.7, 0.9),
}
_OBJECT_BANDS: Final = {Part.WHOLE: (0.1, 0.1, 0.9, 0.9)}
# Outer columns of a person box sampled as background: mostly road, grass, wall.
_PERSON_SIDE: Final = 0.12


@dataclass(frozen=True, slots=True)
class PartColours:
    """The two most common colours of a part and their shares of its (foreground) pixels."""

    main: str
    main_share: float
    second: str
    """Empty when one colour is all of the part."""
    second_share: float


@dataclass(frozen=True, slots=True)
class CropColours:
    """Colours of one crop by part; `upper`/`lower` only for persons, None when not named."""

    whole: PartColours | None
    upper: PartColours | None = None
    lower: PartColours | None = None


def _lab(bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """CIELAB of BGR pixels (any shape ending in 3): L* in [0, 100], a*, b* about +-127."""
    flat = bgr.reshape(-1, 1, 3).astype(np.float32) / 255.0
    return np.asarray(cv2.cvtColor(flat, cv2.COLOR_BGR2Lab), dtype=np.float32).reshape(-1, 3)


def _name_lab(lab: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    lightness, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    chroma = np.hypot(a, b)
    hue = np.degrees(np.arctan2(b, a)) % 360.0
    edges = np.array([edge for edge, _ in _HUES])
    codes = np.array([_CODE[name] for _, name in _HUES])[
        np.searchsorted(edges, hue, side="right").clip(max=len(edges) - 1)
    ]
    red_like = (hue >= _RED_FROM) & (hue < _ORANGE_FROM)
    warm = (hue >= _ORANGE_FROM) & (hue < _GREEN_FROM)
    pinkish = (hue < _RED_FROM) | (hue >= _PINK_FROM)
    codes = np.where(warm & (lightness < _BROWN_L), _CODE["brown"], codes)
    codes = np.where(
        red_like & (lightness < _BROWN_RED_L) & (chroma < _BROWN_RED_CHROMA), _CODE["brown"], codes
    )
    codes = np.where(
        red_like & (lightness >= _PINK_L) & (chroma < _PINK_CHROMA), _CODE["pink"], codes
    )
    codes = np.where(
        pinkish & (lightness < _PINK_L - 20) & (chroma >= _PINK_CHROMA), _CODE["red"], codes
    )
    grey = np.where(
        lightness < _DARK_GREY_L,
        _CODE["black"],
        np.where(lightness < _WHITE_L, _CODE["grey"], _CODE["white"]),
    )
    codes = np.where(chroma < _GREY_CHROMA, grey, codes)
    black = (lightness < _BLACK_ALWAYS_L) | ((lightness < _BLACK_L) & (chroma < _BLACK_CHROMA))
    return np.where(black, _CODE["black"], codes).astype(np.int64)


def name_pixels(bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """The colour code (index into `COLOURS`) of each BGR pixel, flattened."""
    return _name_lab(_lab(bgr))


def _bins(lab: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    lightness = np.clip(lab[:, 0] // _BIN_L, 0, 7).astype(np.int64)
    a = np.clip((lab[:, 1] + 128.0) // _BIN_AB, 0, 21).astype(np.int64)
    b = np.clip((lab[:, 2] + 128.0) // _BIN_AB, 0, 21).astype(np.int64)
    return (lightness * 22 + a) * 22 + b


def _band(box: PixelBox, band: tuple[float, float, float, float]) -> PixelBox:
    x1, y1, x2, y2 = band
    return PixelBox(
        box.x1 + round(box.width * x1),
        box.y1 + round(box.height * y1),
        box.x1 + round(box.width * x2),
        box.y1 + round(box.height * y2),
    )


def _background(image: npt.NDArray[np.uint8], box: PixelBox, person: bool) -> npt.NDArray[np.bool_]:
    """Mask of the crop's background sample: outside the box, and a person box's outer columns."""
    mask = np.ones(image.shape[:2], dtype=bool)
    inner = box
    if person:
        side = round(box.width * _PERSON_SIDE)
        inner = PixelBox(box.x1 + side, box.y1, box.x2 - side, box.y2)
    mask[inner.y1 : inner.y2, inner.x1 : inner.x2] = False
    return mask


def _part(codes: npt.NDArray[np.int64]) -> PartColours | None:
    if codes.size < _MIN_PIXELS:
        return None
    counts = np.bincount(codes, minlength=len(COLOURS)) / codes.size
    first, second = np.argsort(-counts, kind="stable")[:2]
    if counts[second] == 0:
        return PartColours(COLOURS[first], float(counts[first]), "", 0.0)
    return PartColours(COLOURS[first], float(counts[first]), COLOURS[second], float(counts[second]))


def crop_colours(image: npt.NDArray[np.uint8], box: PixelBox, *, person: bool) -> CropColours:
    """Name the colours of the object boxed by `box` in `image` (BGR, as decoded).

    See the module docstring for the parts and how background is kept out.
    """
    lab = _lab(image).reshape(*image.shape[:2], 3)
    background = lab[_background(image, box, person)]
    common = np.zeros(8 * 22 * 22, dtype=bool)
    if len(background) >= _MIN_PIXELS:
        shares = np.bincount(_bins(background), minlength=common.size) / len(background)
        common = shares >= _BACKGROUND_SHARE
    parts: dict[Part, PartColours | None] = {}
    for part, band in (_PERSON_BANDS if person else _OBJECT_BANDS).items():
        region = _band(box, band)
        pixels = lab[region.y1 : region.y2, region.x1 : region.x2].reshape(-1, 3)
        foreground = pixels[~common[_bins(pixels)]]
        if len(foreground) < _MIN_FOREGROUND * len(pixels):
            foreground = pixels
        parts[part] = _part(_name_lab(foreground))
    return CropColours(
        whole=parts[Part.WHOLE], upper=parts.get(Part.UPPER), lower=parts.get(Part.LOWER)
    )
