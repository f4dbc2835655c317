"""The device temperature: the hottest plausible Linux thermal zone, or None."""

from __future__ import annotations

from pathlib import Path

from edge.thermal import hottest_celsius


def zone(root: Path, name: str, text: str) -> None:
    (root / name).mkdir(parents=True)
    (root / name / "temp").write_text(text, encoding="ascii")


def test_the_hottest_readable_zone_in_degrees_celsius(tmp_path: Path) -> None:
    zone(tmp_path, "thermal_zone0", "45500\n")  # millidegrees, as Linux writes them
    zone(tmp_path, "thermal_zone1", "61250\n")
    zone(tmp_path, "thermal_zone2", "not a number\n")
    zone(tmp_path, "thermal_zone3", "-273000\n")  # an absent sensor's nonsense
    (tmp_path / "thermal_zone4").mkdir()  # no temp file
    (tmp_path / "cooling_device0").mkdir()  # not a zone
    assert hottest_celsius(tmp_path) == 61.25


def test_no_zone_means_unknown_not_zero(tmp_path: Path) -> None:
    assert hottest_celsius(tmp_path) is None
    assert hottest_celsius(tmp_path / "missing") is None
