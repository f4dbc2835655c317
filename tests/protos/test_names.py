from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from sightline.names import Name, is_name

NAMES = TypeAdapter(Name)


@pytest.mark.parametrize("value", ["cam-1", "lobby_2", "gate.01", "A", "x" * 64])
def test_plain_names_pass_on_both_sides(value: str) -> None:
    assert is_name(value)
    assert NAMES.validate_python(value) == value


@pytest.mark.parametrize(
    "value",
    ["", ".hidden", "..", "-x", "$SYS", "a/b", "cam+1", "cam#", "x" * 65, "cam 1", "cam\n", "é"],
)
def test_names_that_would_break_a_topic_or_an_object_key_fail_on_both_sides(value: str) -> None:
    assert not is_name(value)
    with pytest.raises(ValidationError):
        NAMES.validate_python(value)
