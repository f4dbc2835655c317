"""VOC-style matching and the rewrite of a manifest's [accuracy] table."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edge.detectors.postprocess import Detection
from models.accuracy import (
    GroundTruth,
    Score,
    accuracy_table,
    iou,
    load_voc_annotation,
    match,
    record,
)
from models.errors import ModelError
from models.manifest import MANIFEST_DIR, load_manifest_file

PERSON = GroundTruth("person", (0, 0, 100, 200), difficult=False)
BUS = GroundTruth("bus", (200, 0, 400, 100), difficult=False)
JUDGED = frozenset({"person", "bus"})


def detection(label: str, box: tuple[float, float, float, float], score: float = 0.9) -> Detection:
    return Detection(*box, score=score, class_id=0, label=label)


def test_iou_of_half_overlapping_boxes() -> None:
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0


def test_one_match_per_object_and_duplicates_are_false() -> None:
    found = [detection("person", (0, 0, 100, 190)), detection("person", (5, 5, 100, 200), 0.5)]

    assert match(found, [PERSON, BUS], 0.5, JUDGED) == Score(1, 1, 2)


def test_a_box_of_the_wrong_class_or_too_little_overlap_is_false() -> None:
    found = [detection("bus", (0, 0, 100, 200)), detection("person", (50, 100, 150, 300))]

    assert match(found, [PERSON], 0.5, JUDGED) == Score(0, 2, 1)


def test_classes_nobody_annotated_and_difficult_objects_are_not_judged() -> None:
    difficult = GroundTruth("bus", BUS.box, difficult=True)
    found = [detection("couch", (0, 0, 50, 50)), detection("bus", BUS.box)]

    assert match(found, [PERSON, difficult], 0.5, JUDGED) == Score(0, 0, 1)


def test_voc_names_are_mapped_to_coco(tmp_path: Path) -> None:
    xml = tmp_path / "a.xml"
    xml.write_text(
        "<annotation><object><name>motorbike</name><difficult>1</difficult><bndbox>"
        "<xmin>1</xmin><ymin>2</ymin><xmax>3.5</xmax><ymax>4</ymax></bndbox></object></annotation>"
    )

    assert load_voc_annotation(xml) == [GroundTruth("motorcycle", (1, 2, 3.5, 4), True)]


def test_record_replaces_only_the_accuracy_table(tmp_path: Path) -> None:
    shutil.copy(MANIFEST_DIR / "nanodet-g.toml", tmp_path)
    before = (tmp_path / "nanodet-g.toml").read_text()

    record("nanodet-g", accuracy_table("nanodet-g", Score(3, 1, 4), 0.45, 0.5), tmp_path)

    after = (tmp_path / "nanodet-g.toml").read_text()
    accuracy = load_manifest_file(tmp_path / "nanodet-g.toml").accuracy
    assert accuracy is not None and (accuracy.precision, accuracy.recall) == (0.75, 0.75)
    assert after.split("[accuracy]")[0] == before.split("[accuracy]")[0]


def test_record_refuses_when_a_table_follows_accuracy(tmp_path: Path) -> None:
    text = (MANIFEST_DIR / "nanodet-g.toml").read_text()
    head, table = text.split("[accuracy]")
    (tmp_path / "nanodet-g.toml").write_text(f"{head}[accuracy]{table}\n[extra]\n")

    with pytest.raises(ModelError, match="must be the last table"):
        record("nanodet-g", accuracy_table("nanodet-g", Score(1, 0, 1), 0.4, 0.5), tmp_path)
