"""User labels as words text search understands (`cloud.search.vocabulary.TERM_SOURCES`).

Each label is a term named as the label, matched by meaning like a class ("delivery van" finds
the label "Delivery van", and so may "courier van"); a query naming it finds the sightings that
have the label (`cloud.labels.matching`). A label made or renamed joins the vocabulary on the
next query: the vocabulary is embedded again whenever its terms change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db.models import QuerySet

from cloud.detections.models import Detection
from cloud.labels.matching import labelled_tracks
from cloud.labels.models import Label
from cloud.search.vocabulary import Term


class UserLabels:
    """The labels users made, filtered by their marks and learned scores."""

    kind = "label"

    def terms(self) -> Iterable[Term]:
        """One term per label, phrased as its name in lower case (queries are read so)."""
        names = Label.objects.order_by("name").values_list("name", flat=True)
        return [Term(name, (name.lower(),), self.kind) for name in names]

    def filter(self, detections: QuerySet[Detection], names: Sequence[str]) -> QuerySet[Detection]:
        """Detections of tracks that have any of the labels called `names`."""
        label_ids = list(Label.objects.filter(name__in=names).values_list("pk", flat=True))
        return detections.filter(labelled_tracks(label_ids, field="track_id"))
