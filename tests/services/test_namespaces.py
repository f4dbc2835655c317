"""Per-test names: valid for each backend, bounded, distinct."""

from __future__ import annotations

import re

import pytest

from tests.services.namespaces import isolated_name

NODE = "tests/integration/test_s3.py::test_a_presigned_get_url_works[jpeg-2 MiB]"


def test_it_keeps_the_module_and_test_name_readable() -> None:
    name = isolated_name(NODE, prefix="t", separator="-", max_length=63)
    assert re.fullmatch(r"t-test-s3-test-a-presigned-get-url-works-jpeg-2-mib-[0-9a-f]{8}", name)


def test_it_truncates_to_the_limit_and_stays_distinct() -> None:
    long_a = "tests/x/test_m.py::test_" + "a" * 100 + "_one"
    long_b = "tests/x/test_m.py::test_" + "a" * 100 + "_two"
    a = isolated_name(long_a, prefix="Test", separator="_", max_length=40)
    b = isolated_name(long_b, prefix="Test", separator="_", max_length=40)
    assert len(a) == len(b) == 40
    assert a != b
    assert re.fullmatch(r"Test_[a-z0-9_]+", a)


def test_it_refuses_a_limit_with_no_room() -> None:
    with pytest.raises(ValueError, match="no room"):
        isolated_name(NODE, prefix="t", separator="-", max_length=10)
