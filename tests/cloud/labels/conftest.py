"""Fixtures of the labels' tests: a label and a labeler (stores: `search_data`)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from cloud.access.models import Role
from cloud.labels.models import Label
from tests.users import make_user


@pytest.fixture
def label(db: None) -> Label:
    return Label.objects.create(name="Red jacket")


@pytest.fixture
def labeler(db: None) -> User:
    return make_user("labeler", Role.LABELER)
