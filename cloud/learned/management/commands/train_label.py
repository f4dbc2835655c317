"""``python -m cloud train_label NAME``: train a label's classifier and score every crop with it,
in this process (what the `train_label` and `backfill_classifier` tasks run)."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cloud.labels.models import Label
from cloud.learned import services
from cloud.learned.models import Backfill


class Command(BaseCommand):
    help = "Train a label's classifier from its marks, then score every embedded crop with it."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", help="the label's name (any case)")
        parser.add_argument(
            "--no-backfill", action="store_true", help="train only; leave existing crops unscored"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            label = services.label_named(options["name"])
        except Label.DoesNotExist:
            raise CommandError(f"no label called {options['name']!r}") from None
        outcome = services.train_label(label.pk)
        self.stdout.write(f"{label.name}: {outcome.status}")
        if outcome.classifier_id is None or options["no_backfill"]:
            return
        services.backfill(outcome.classifier_id)
        job = Backfill.objects.get(pk=outcome.classifier_id)
        self.stdout.write(
            f"scored {job.done} of {job.total} crops{': ' + job.error if job.error else ''}"
        )
