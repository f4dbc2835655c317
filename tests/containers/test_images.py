"""The wheelhouse's requirements are decided for the images' Python, not the host's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.containers import images

EXPORTED = """\
amqp==5.4.2
async-timeout==5.0.1 ; python_full_version < '3.11.3'
colorama==0.4.6 ; sys_platform == 'win32'
scipy==1.17.1 ; python_full_version < '3.12'
scipy==1.18.0 ; python_full_version >= '3.12'
# a comment
"""


def test_markers_are_judged_for_debian_python() -> None:
    assert images.for_image(EXPORTED).splitlines() == [
        "amqp==5.4.2",
        "async-timeout==5.0.1",
        "scipy==1.17.1",
    ]


def test_the_cloud_image_gets_its_server_and_static_files() -> None:
    names = {line.split("==")[0] for line in images.requirements(("cloud", "cpu")).splitlines()}
    assert {"gunicorn", "whitenoise", "django", "onnxruntime", "celery"} <= names
    assert "pytest" not in names


def test_the_inputs_hash_follows_what_the_build_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(images, "REPO", tmp_path)
    (tmp_path / ".containerignore").write_text("*\n", encoding="utf-8")
    (tmp_path / "docker" / "thing").mkdir(parents=True)
    (tmp_path / "docker" / "thing" / "Dockerfile").write_text("FROM x\n", encoding="utf-8")
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    source = tmp_path / "pkg" / "code.py"
    source.write_text("A = 1\n", encoding="utf-8")
    image = images.Image("thing", "localhost/thing:latest", sources=("pkg",))
    first = images.inputs_hash(image, None)
    (tmp_path / "pkg" / "__pycache__" / "code.pyc").write_bytes(b"compiled")
    assert images.inputs_hash(image, None) == first
    assert images.inputs_hash(image, tmp_path / "wheelhouse" / "other") != first
    source.write_text("A = 2\n", encoding="utf-8")
    assert images.inputs_hash(image, None) != first
