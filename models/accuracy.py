"""Measure a detector's precision and recall on VOC-format ground truth, and record them.

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
import re
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Sequence, Set
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from edge.detectors.postprocess import (
    Detection,
    decode_nanodet,
    letterbox,
    nanodet_levels,
    to_detections,
    to_nchw,
)
from models.errors import ModelError
from models.manifest import MANIFEST_DIR, ModelManifest

logger = logging.getLogger(__name__)

VOC_DATASET = Path("/usr/share/doc/labelme-examples/examples/bbox_detection/data_dataset_voc")
VOC_DATASET_LABEL = "labelme-examples VOC (Debian)"
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

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 1.0 when nothing was detected."""
        detected = self.true_positives + self.false_positives
        return self.true_positives / detected if detected else 1.0

    @property
    def recall(self) -> float:
        """TP / ground truths; 1.0 when there was nothing to find."""
        return self.true_positives / self.ground_truths if self.ground_truths else 1.0


class NanoDetRunner:
    """A NanoDet ONNX model run by ONNX Runtime on CPU with the manifest's preprocessing."""

    def __init__(self, manifest: ModelManifest, model_file: Path) -> None:
        spec = manifest.input
        if manifest.labels is None or spec.mean is None or spec.std is None:
            raise ModelError(f"{manifest.name}: needs labels, mean and std in its manifest")
        self._manifest = manifest
        self._labels = manifest.labels.names
        self._mean, self._std = spec.mean, spec.std
        self._size = (int(spec.shape[3]), int(spec.shape[2]))
        self._session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
        self._outputs = [output.name for output in self._session.get_outputs()]

    def detect(self, frame: np.ndarray, score_threshold: float) -> list[Detection]:
        """Detections above `score_threshold` on a BGR frame, in frame pixels."""
        canvas, transform = letterbox(frame, self._size)
        tensor = to_nchw(canvas, self._mean, self._std, swap_rb=self._manifest.input.color == "RGB")
        results = self._session.run(self._outputs, {self._manifest.input.name: tensor})
        raw = decode_nanodet(
            *nanodet_levels(dict(zip(self._outputs, results, strict=True))),
            input_size=self._size,
            score_threshold=score_threshold,
        )
        return to_detections(raw, transform, self._labels)


def load_voc_annotation(path: Path) -> list[GroundTruth]:
    """Objects of a VOC XML file whose class maps to COCO."""
    root = ET.parse(path).getroot()
    objects = []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in VOC_TO_COCO:
            logger.warning("%s: class %r has no COCO counterpart; skipped", path.name, name)
            continue
        box = obj.find("bndbox")
        if box is None:
            raise ModelError(f"{path}: object {name} has no bndbox")
        coords = tuple(
            float(box.findtext(key) or "nan") for key in ("xmin", "ymin", "xmax", "ymax")
        )
        difficult = (obj.findtext("difficult") or "0").strip() == "1"
        objects.append(
            GroundTruth(VOC_TO_COCO[name], (coords[0], coords[1], coords[2], coords[3]), difficult)
        )
    return objects


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(width, 0.0) * max(height, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(
    detections: Sequence[Detection],
    truths: Sequence[GroundTruth],
    iou_threshold: float,
    judged_labels: Set[str],
) -> Score:
    """Greedy VOC matching of one image's detections of `judged_labels` against its ground truth."""
    taken = [False] * len(truths)
    true_positives = false_positives = 0
    for det in sorted(detections, key=lambda d: d.score, reverse=True):
        if det.label not in judged_labels:
            continue
        box = (det.x1, det.y1, det.x2, det.y2)
        overlaps = [iou(box, t.box) if t.label == det.label else 0.0 for t in truths]
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


def evaluate(
    runner: NanoDetRunner, dataset: Path, score_threshold: float, iou_threshold: float
) -> Score:
    """Run `runner` on every annotated image of a VOC folder and add up the matches."""
    annotations = sorted((dataset / "Annotations").glob("*.xml"))
    if not annotations:
        raise ModelError(f"no VOC annotations under {dataset / 'Annotations'}")
    truths = {path.stem: load_voc_annotation(path) for path in annotations}
    judged = {truth.label for image_truths in truths.values() for truth in image_truths}
    logger.info("judging classes %s", sorted(judged))
    total = Score(0, 0, 0)
    for xml_path in annotations:
        image = cv2.imread(str(dataset / "JPEGImages" / f"{xml_path.stem}.jpg"))
        if image is None:
            raise ModelError(f"cannot read the image of {xml_path.name}")
        detections = runner.detect(image, score_threshold)
        score = match(detections, truths[xml_path.stem], iou_threshold, judged)
        logger.info(
            "%s: %d TP, %d FP, %d ground truth",
            xml_path.stem,
            score.true_positives,
            score.false_positives,
            score.ground_truths,
        )
        total = Score(
            total.true_positives + score.true_positives,
            total.false_positives + score.false_positives,
            total.ground_truths + score.ground_truths,
        )
    return total


def accuracy_table(name: str, score: Score, score_threshold: float, iou_threshold: float) -> str:
    """The `[accuracy]` TOML table recording `score`."""
    return (
        "[accuracy]\n"
        f'dataset = "{VOC_DATASET_LABEL}"\n'
        f"iou = {iou_threshold}\n"
        f"score_threshold = {score_threshold}\n"
        f"precision = {score.precision:.3f}\n"
        f"recall = {score.recall:.3f}\n"
        f'command = "uv run python -m models accuracy {name}"\n'
    )


def record(name: str, table: str, directory: Path = MANIFEST_DIR) -> Path:
    """Replace (or append) the `[accuracy]` table, which must be the last table of the manifest.

    Editing the text, rather than re-serialising the TOML, keeps the manifest's comments.
    """
    path = directory / f"{name}.toml"
    text = path.read_text()
    found = re.search(r"(?m)^\[accuracy\][ \t]*$", text)
    head, old_table = (text[: found.start()], text[found.end() :]) if found else (text, "")
    if re.search(r"(?m)^\[", old_table):
        raise ModelError(f"{path}: [accuracy] must be the last table to be rewritten")
    text = f"{head.rstrip()}\n\n{table}"
    ModelManifest.model_validate(tomllib.loads(text))
    path.write_text(text)
    return path
