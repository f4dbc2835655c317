"""VOC-style matching, and precision/recall measured through the agent's own detector path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.accuracy import (
    VOC_DATASET,
    VOC_DATASET_LABEL,
    GroundTruth,
    Measurement,
    Score,
    load_voc_annotation,
    match,
    measure,
)
from edge.errors import DatasetError
from edge.tracking.matching import iou_matrix
from models.detection import Detection
from models.manifest import read_runtime_manifest
from tests.edge.nanodet import MANIFEST, built_model
from tests.models.built_models import unavailable

PERSON = GroundTruth("person", (0, 0, 100, 200), difficult=False)
BUS = GroundTruth("bus", (200, 0, 400, 100), difficult=False)
JUDGED = frozenset({"person", "bus"})


def detection(label: str, box: tuple[float, float, float, float], score: float = 0.9) -> Detection:
    return Detection(*box, score=score, class_id=0, label=label)


def test_iou_of_half_overlapping_boxes() -> None:
    # match() uses the tracker's IoU, so the two cannot disagree about what overlaps.
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], dtype=np.float32)
    ious = iou_matrix(boxes[:1], boxes[1:])
    assert ious[0, 0] == pytest.approx(50 / 150)
    assert ious[0, 1] == 0


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


def test_an_image_without_ground_truth_makes_every_judged_detection_false() -> None:
    assert match([detection("person", PERSON.box)], [], 0.5, JUDGED) == Score(0, 1, 0)


def test_scores_add_up() -> None:
    total = Score(1, 2, 3) + Score(4, 0, 5)

    assert total == Score(5, 2, 8)
    assert (total.precision, total.recall) == (5 / 7, 5 / 8)


def test_voc_names_are_mapped_to_coco(tmp_path: Path) -> None:
    xml = tmp_path / "a.xml"
    xml.write_text(
        "<annotation><object><name>motorbike</name><difficult>1</difficult><bndbox>"
        "<xmin>1</xmin><ymin>2</ymin><xmax>3.5</xmax><ymax>4</ymax></bndbox></object></annotation>"
    )

    assert load_voc_annotation(xml) == [GroundTruth("motorcycle", (1, 2, 3.5, 4), True)]


def test_a_broken_annotation_is_a_dataset_error(tmp_path: Path) -> None:
    xml = tmp_path / "a.xml"
    xml.write_text("<annotation><object><name>person</name>")

    with pytest.raises(DatasetError, match=r"a\.xml: not a readable VOC annotation"):
        load_voc_annotation(xml)


def test_the_measurement_records_the_command_that_repeats_it(tmp_path: Path) -> None:
    default = Measurement(Path("models/nanodet-g.toml"), score_threshold=0.4)
    other = Measurement(Path("m.toml"), dataset=tmp_path / "my voc", iou_threshold=0.7)

    recorded = default.recorded(Score(8, 2, 9))

    assert recorded.command == (
        "uv run python -m edge accuracy --manifest models/nanodet-g.toml --score 0.4 --iou 0.5"
    )
    assert (recorded.dataset, recorded.precision, recorded.recall) == (
        VOC_DATASET_LABEL,
        0.8,
        8 / 9,
    )
    assert other.recorded(Score(0, 0, 0)).dataset == str(tmp_path / "my voc")
    assert other.command().endswith(f"--dataset '{tmp_path}/my voc' --score 0.4 --iou 0.7")


def test_an_empty_dataset_is_refused_before_any_detection(tmp_path: Path) -> None:
    built_model()

    with pytest.raises(DatasetError, match="no VOC annotations under"):
        measure(Measurement(MANIFEST, dataset=tmp_path))


@pytest.mark.slow
def test_the_recorded_accuracy_is_what_the_agents_detector_measures() -> None:
    built_model()
    if not VOC_DATASET.is_dir():
        unavailable(f"{VOC_DATASET} is missing: apt-get install labelme-examples")
    recorded = read_runtime_manifest(MANIFEST).accuracy
    assert recorded is not None

    score = measure(
        Measurement(MANIFEST, score_threshold=recorded.score_threshold, iou_threshold=recorded.iou)
    )

    assert score.precision == pytest.approx(recorded.precision, abs=5e-4)
    assert score.recall == pytest.approx(recorded.recall, abs=5e-4)
