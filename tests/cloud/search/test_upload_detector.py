"""The cloud detects an uploaded frame exactly as the edge detects a camera frame."""

from __future__ import annotations

import numpy as np

from cloud.search.detector import load_upload_detector
from edge.crops.image import pixel_rect
from edge.detectors.ort import OrtDetector
from edge.detectors.preprocess import Preprocessor
from edge.detectors.registry import create_detector
from edge.geometry import Box
from models.detection import padded_rect, to_detections
from tests.cloud.ingest.footage import vtest_frame
from tests.edge.nanodet import detector_settings

SERVING = 0.45  # the edge tracker's high score, the upload search's default


def test_an_uploaded_frame_gives_the_edge_agents_boxes_and_crops() -> None:
    frame = vtest_frame(3)
    edge = create_detector(detector_settings(score_threshold=SERVING, class_agnostic=True))
    assert isinstance(edge, OrtDetector)
    tensor, transform = Preprocessor(edge.spec)(frame)
    expected = to_detections(edge.detect(tensor), transform, edge.spec.labels)

    found = load_upload_detector().detect(frame, score_threshold=SERVING)

    assert len(found) >= 4  # the pedestrians and the van of frame 3
    assert [d.label for d in found] == [d.label for d in expected]
    boxes = np.array([[d.x1, d.y1, d.x2, d.y2, d.score] for d in found])
    edge_boxes = np.array([[d.x1, d.y1, d.x2, d.y2, d.score] for d in expected])
    np.testing.assert_allclose(boxes, edge_boxes, atol=1e-3)
    # The crop each would cut with the edge's default padding.
    for mine, theirs in zip(found, expected, strict=True):
        box = Box(theirs.x1, theirs.y1, theirs.x2, theirs.y2)
        assert padded_rect(mine, 768, 576, 0.1) == tuple(pixel_rect(box, 768, 576, 0.1))
