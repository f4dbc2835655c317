"""Learned-label test data: 4-d crop vectors in an in-memory vector store, marks made directly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from django.utils import timezone

from cloud.detections.models import Detection
from cloud.labels.models import Label, Mark, Value
from tests.cloud.search.data import SearchData

# Crops of the label lie near the first axis, others near the second.
LIKE = (1.0, 0.1, 0.2, 0.0)
UNLIKE = (0.1, 1.0, 0.2, 0.0)


def near(base: Sequence[float], n: int) -> list[float]:
    """A vector a little off `base`, different for each n."""
    return [base[0], base[1], base[2] + 0.04 * (n % 7), base[3] + 0.03 * (n % 3)]


@dataclass
class Crops:
    """Embedded crops recorded as ingest and the embed worker record them."""

    data: SearchData
    label: Label

    def add(self, vector: Sequence[float]) -> Detection:
        row = self.data.add(vector)
        Detection.objects.filter(pk=row.pk).update(embedded_at=timezone.now())
        return row

    def mark(self, rows: Sequence[Detection], value: Value) -> None:
        for row in rows:
            Mark.objects.update_or_create(
                label=self.label, detection=row, defaults={"value": value, "at": timezone.now()}
            )

    def marked_set(self, positives: int = 6, negatives: int = 6) -> tuple[list[Detection], ...]:
        """Enough marks to train: each crop its own track."""
        yes = [self.add(near(LIKE, n)) for n in range(positives)]
        no = [self.add(near(UNLIKE, n)) for n in range(negatives)]
        self.mark(yes, Value.POSITIVE)
        self.mark(no, Value.NEGATIVE)
        return yes, no


@pytest.fixture
def crops(search_data: SearchData) -> Crops:
    return Crops(search_data, Label.objects.create(name="red jacket"))
