"""The base image's mirror is read from the machine's apt sources, never written in the repo."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.containers import base_image

DEB822 = """\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def apt_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_deb822_sources(tmp_path: Path) -> None:
    folder = apt_dir(
        tmp_path,
        {
            "sources.list.d/google.list": "deb https://other.example/apt cloud-sdk-bookworm main\n",
            "sources.list.d/debian.sources": DEB822,
        },
    )
    assert base_image.debian_mirror(folder) == "http://mirror.example/debian"


def test_one_line_sources_with_options_and_comments(tmp_path: Path) -> None:
    folder = apt_dir(
        tmp_path,
        {
            "sources.list": (
                "# deb http://old.example/debian bookworm main\n"
                "deb-src http://src.example/debian bookworm main\n"
                "deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n"
            )
        },
    )
    assert base_image.debian_mirror(folder) == "http://one.example/debian"


def test_disabled_stanzas_are_skipped(tmp_path: Path) -> None:
    disabled = DEB822.replace("Types: deb\n#", "Types: deb\nEnabled: no\n#", 1)
    folder = apt_dir(tmp_path, {"sources.list.d/debian.sources": disabled})
    with pytest.raises(LookupError, match="bookworm"):
        base_image.debian_mirror(folder)


def test_no_source_for_the_suite(tmp_path: Path) -> None:
    folder = apt_dir(tmp_path, {"sources.list": "deb http://x.example/debian trixie main\n"})
    with pytest.raises(LookupError, match="cannot debootstrap"):
        base_image.debian_mirror(folder)


def test_the_recipe_hash_follows_the_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    before = base_image.recipe_hash()
    monkeypatch.setitem(base_image.RECIPE, "variant", "buildd")
    assert base_image.recipe_hash() != before


def test_no_mirror_host_in_the_images_sources() -> None:
    # The mirror comes from the machine at run time; Dockerfiles and compose name none.
    docker = Path(base_image.__file__).resolve().parents[2] / "docker"
    for path in docker.rglob("*"):
        if path.is_file():
            assert "deb.debian.org" not in path.read_text(encoding="utf-8", errors="replace")
