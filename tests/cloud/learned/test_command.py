"""``python -m cloud train_label NAME``."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.cloud.learned.conftest import Crops

pytestmark = pytest.mark.django_db


def test_it_trains_and_scores_every_crop(crops: Crops) -> None:
    crops.marked_set()
    out = io.StringIO()
    call_command("train_label", "RED JACKET", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("red jacket: version 1 trained on 6 positive and 6 negative")
    assert lines[1] == "scored 12 of 12 crops"


def test_an_unknown_label_is_an_error(db: None) -> None:
    with pytest.raises(CommandError, match="no label called 'nope'"):
        call_command("train_label", "nope")
