"""The colour analyser as the embed worker runs it: on decoded crops of stored detections."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings

from cloud.attributes.analyser import ColourAnalyser
from cloud.attributes.models import DetectionColours
from cloud.detections.models import Detection
from cloud.detections.services import NewDetection, record_detection
from cloud.embeddings import analysers
from cloud.embeddings.embedder import decode_jpeg
from cloud.fleet.models import Device
from cloud.lib.objectstore import ObjectStore
from tests.cloud.attributes.vtest_people import RED_TOP_WOMAN, VAN, detection
from tests.cloud.test_settings import load_settings


def test_colours_are_stored_once_per_detection_and_replaced_when_analysed_again(
    provisioned_device: Device, objects: ObjectStore, make_detection: Callable[..., NewDetection]
) -> None:
    for item in (RED_TOP_WOMAN, VAN):
        record_detection(detection(item, make_detection), objects)
    crops = [(row, decode_jpeg(objects.get(row.object_key))) for row in Detection.objects.all()]

    ColourAnalyser().analyse(crops)
    DetectionColours.objects.filter(detection__label="person").update(upper="green")
    ColourAnalyser().analyse(crops)

    stored = {
        row.detection.label: row for row in DetectionColours.objects.select_related("detection")
    }
    assert len(stored) == 2
    assert stored["person"].upper == "red" and stored["person"].upper_share > 0.5
    assert (stored["car"].colour, stored["car"].upper, stored["car"].upper_share) == (
        "white",
        "",
        0,
    )


def test_the_colour_analyser_is_on_by_default(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, tmp_path: Path
) -> None:
    defaults = load_settings(monkeypatch, DEBUG="true", DATA_DIR=str(tmp_path))
    assert defaults["CROP_ANALYSERS"] == ["colours", "faces"]
    settings.CROP_ANALYSERS = ["colours"]
    (enabled,) = analysers._build_enabled()
    assert isinstance(enabled, ColourAnalyser)
