"""The wheelhouse's requirements are decided for the images' Python, not the host's."""

from __future__ import annotations

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
