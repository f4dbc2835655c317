"""Precision and recall of a detector on VOC-format ground truth, through the agent's own path.

`measure` builds the detector with `create_detector` (any backend of the registry), feeds it what
`Preprocessor` makes of each photo and maps its boxes back with `to_detections`: the path the
camera pipeline runs, with the detector's default settings apart from the score threshold. So
the figure describes the detector the agent runs, NMS included, not a second implementation.
`python -m edge accuracy` is the command line; `--record` writes the result into the manifest's
`[accuracy]` table (`models.manifest.record_accuracy`).

The default data set is the three labelme example photos with VOC boxes that Debian's
`labelme-examples` installs (6 people, 2 buses, 1 car). VOC class names are mapped to COCO names.
Only classes that occur in the data set's annotations are judged: these photos also show a sofa,
a chair and bottles that nobody boxed, and calling those detections false would measure the
annotation, not the model. A detection is a true positive when it overlaps an unmatched
ground-truth box of the same class with IoU >= `iou` (greedy, best score first, as in the VOC
devkit); boxes marked difficult are ignored either way.
"""

from __future__ import annotations

import logging
import shlex
import xml.etree.ElementTree as ET
from collections.abc import Sequence, Set
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pydantic import TypeAdapter

from edge.detectors.base import Detector
from edge.detectors.preprocess import Preprocessor
from edge.detectors.registry import DetectorConfig, create_detector
from edge.errors import DatasetError
from edge.tracking.matching import iou_matrix
from models.detection import Detection, to_detections
from models.manifest import Accuracy

logger = logging.getLogger(__name__)

VOC_DATASET = Path("/usr/share/doc/labelme-examples/examples/bbox_detection/data_dataset_voc")
VOC_DATASET_LABEL = "labelme-examples VOC (Debian)"
DEFAULT_SCORE_THRESHOLD = 0.4
"""A serving threshold for NanoDet-g: at 0.40-0.45 it trades few misses for few false boxes."""
VOC_TO_COCO = {
    "aeroplane": "airplane", "bicycle": "bicycle", "bird": "bird", "boat": "boat",
    "bottle": "bottle", "bus": "bus", "car": "car", "cat": "cat", "chair": "chair", "cow": "cow",
    "diningtable": "dining table", "dog": "dog", "horse": "horse", "motorbike": "motorcycle",
    "person": "person", "pottedplant": "potted plant", "sheep": "sheep", "sofa": "couch",
    "train": "train", "tvmonitor": "tv",
}  # fmt: skip


@dataclass(frozen=True)
class GroundTruth:
    """One annotated object in image pixels, with its COCO label."""

    label: str
    box: tuple[float, float, float, float]
    difficult: bool


@dataclass(frozen=True)
class Score:
    """Counts and ratios of one evaluation."""

    true_positives: int
    false_positives: int
    ground_truths: int

    def __add__(self, other: Score) -> Score:
        return Score(
            self.true_positives + other.true_positives,
            self.false_positives + other.false_positives,
            self.ground_truths + other.ground_truths,
        )

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 1.0 when nothing was detected."""
        detected = self.true_positives + self.false_positives
        return self.true_positives / detected if detected else 1.0

    @property
    def recall(self) -> float:
        """TP / ground truths; 1.0 when there was nothing to find."""
        return self.true_positives / self.ground_truths if self.ground_truths else 1.0


def load_voc_annotation(path: Path) -> list[GroundTruth]:
    """Objects of a VOC XML file whose class maps to COCO. Raises `DatasetError`."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as err:
        raise DatasetError(f"{path}: not a readable VOC annotation: {err}") from err
    objects = []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in VOC_TO_COCO:
            logger.warning("%s: class %r has no COCO counterpart; skipped", path.name, name)
            continue
        box = obj.find("bndbox")
        if box is None:
            raise DatasetError(f"{path}: object {name} has no bndbox")
        coords = tuple(
            float(box.findtext(key) or "nan") for key in ("xmin", "ymin", "xmax", "ymax")
        )
        difficult = (obj.findtext("difficult") or "0").strip() == "1"
        objects.append(
            GroundTruth(VOC_TO_COCO[name], (coords[0], coords[1], coords[2], coords[3]), difficult)
        )
    return objects


def match(
    detections: Sequence[Detection],
    truths: Sequence[GroundTruth],
    iou_threshold: float,
    judged_labels: Set[str],
) -> Score:
    """Greedy VOC matching of one image's detections of `judged_labels` against its ground truth."""
    taken = [False] * len(truths)
    truth_boxes = np.array([t.box for t in truths], dtype=np.float64).reshape(-1, 4)
    true_positives = false_positives = 0
    for det in sorted(detections, key=lambda d: d.score, reverse=True):
        if det.label not in judged_labels:
            continue
        (ious,) = iou_matrix(np.array([[det.x1, det.y1, det.x2, det.y2]]), truth_boxes)
        overlaps = [o if t.label == det.label else 0.0 for o, t in zip(ious, truths, strict=True)]
        best = int(np.argmax(overlaps)) if overlaps else -1
        if best < 0 or overlaps[best] < iou_threshold:
            false_positives += 1
        elif truths[best].difficult:
            continue  # neither credited nor blamed, as in the VOC devkit
        elif taken[best]:
            false_positives += 1
        else:
            taken[best] = True
            true_positives += 1
    counted = sum(not t.difficult for t in truths)
    return Score(true_positives, false_positives, counted)


def evaluate(detector: Detector, dataset: Path, iou_threshold: float) -> Score:
    """Run `detector` on every annotated image of a VOC folder and add up the matches.

    Raises `DatasetError` when the folder has no annotations or an image does not read.
    """
    annotations = sorted((dataset / "Annotations").glob("*.xml"))
    if not annotations:
        raise DatasetError(f"no VOC annotations under {dataset / 'Annotations'}")
    truths = {path.stem: load_voc_annotation(path) for path in annotations}
    judged = {truth.label for image_truths in truths.values() for truth in image_truths}
    logger.info("judging classes %s", sorted(judged))
    preprocess = Preprocessor(detector.spec)
    total = Score(0, 0, 0)
    for xml_path in annotations:
        image_path = dataset / "JPEGImages" / f"{xml_path.stem}.jpg"
        image = cv2.imread(str(image_path))
        if image is None:
            raise DatasetError(f"cannot read {image_path}, the image of {xml_path.name}")
        tensor, transform = preprocess(np.asarray(image, dtype=np.uint8))  # imread gives uint8
        detections = to_detections(detector.detect(tensor), transform, detector.spec.labels)
        score = match(detections, truths[xml_path.stem], iou_threshold, judged)
        logger.info(
            "%s: %d TP, %d FP, %d ground truth",
            xml_path.stem,
            score.true_positives,
            score.false_positives,
            score.ground_truths,
        )
        total += score
    return total


@dataclass(frozen=True)
class Measurement:
    """Which detector to measure on which data set, at which thresholds."""

    manifest: Path
    detector: str = "ort"
    """Detector backend key (`edge.detectors.registry.DETECTORS`), run with its defaults."""
    dataset: Path = VOC_DATASET
    score_threshold: float = DEFAULT_SCORE_THRESHOLD
    iou_threshold: float = 0.5

    def settings(self) -> DetectorConfig:
        """The detector's settings: the backend's defaults but for the model and threshold."""
        return TypeAdapter(DetectorConfig).validate_python(
            {
                "type": self.detector,
                "model": {"manifest": self.manifest},
                "score_threshold": self.score_threshold,
            }
        )

    def command(self) -> str:
        """The shell command that repeats this measurement."""
        words = ["uv", "run", "python", "-m", "edge", "accuracy", "--manifest", str(self.manifest)]
        if self.detector != Measurement.detector:
            words += ["--detector", self.detector]
        if self.dataset != VOC_DATASET:
            words += ["--dataset", str(self.dataset)]
        words += ["--score", str(self.score_threshold), "--iou", str(self.iou_threshold)]
        return shlex.join(words)

    def recorded(self, score: Score) -> Accuracy:
        """`score` as the manifest's `[accuracy]` table records it."""
        return Accuracy(
            dataset=VOC_DATASET_LABEL if self.dataset == VOC_DATASET else str(self.dataset),
            iou=self.iou_threshold,
            score_threshold=self.score_threshold,
            precision=score.precision,
            recall=score.recall,
            command=self.command(),
        )


def measure(measurement: Measurement) -> Score:
    """Build the detector `measurement` describes, evaluate it, and close it.

    Raises `models.errors.ModelError` or `BackendUnavailable` (as building the detector does)
    and `DatasetError`.
    """
    detector = create_detector(measurement.settings())
    try:
        return evaluate(detector, measurement.dataset, measurement.iou_threshold)
    finally:
        detector.close()
