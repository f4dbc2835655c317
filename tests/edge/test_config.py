"""The root config: fixtures and the example validate; cross-feature checks catch mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import EdgeConfig, load
from edge.errors import ConfigError
from edge.sources.base import SourceKind

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLE = Path(__file__).resolve().parents[2] / "edge" / "example.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = """\
device: {id: dev-1}
detector: {type: ort, model: {manifest: models/nanodet-g.toml}}
"""


def test_the_example_and_the_minimal_fixture_are_valid() -> None:
    example = load(EXAMPLE, environ={})
    assert example.device.id == "edge-dev-1"
    assert example.cameras[0].labels[0] == "person"
    assert example.delivery is not None
    minimal = load(FIXTURES / "minimal.yaml", environ={})
    assert minimal.delivery is None
    assert minimal.cameras[0].source.fps == 5.0
    assert minimal.detector.intra_op_threads == 2


def test_an_unknown_key_is_reported_with_its_line() -> None:
    path = FIXTURES / "unknown-key.yaml"
    with pytest.raises(ConfigError) as excinfo:
        load(path, environ={})
    assert str(excinfo.value) == f"{path}:11: cameras.0.source.fsp: Extra inputs are not permitted"


def test_every_bad_value_is_reported_once_with_its_line() -> None:
    path = FIXTURES / "invalid-values.yaml"
    with pytest.raises(ConfigError) as excinfo:
        load(path, environ={})
    lines = str(excinfo.value).splitlines()
    assert [line.split(": ")[0:2] for line in lines] == [
        [f"{path}:3", "device.id"],
        [f"{path}:4", "detector"],  # the message lists the known types
        [f"{path}:12", "cameras.0.source.fps"],
    ]


def test_environment_overrides_win_over_the_file() -> None:
    config = load(
        FIXTURES / "minimal.yaml",
        environ={
            "SIGHTLINE_EDGE_LOG_FORMAT": "json",
            "SIGHTLINE_EDGE_DETECTOR__INTRA_OP_THREADS": "1",
        },
    )
    assert config.log_format == "json"
    assert config.detector.intra_op_threads == 1


def test_camera_ids_must_be_unique(tmp_path: Path) -> None:
    text = BASE + "cameras:\n  - {id: a, source: {url: x.avi}}\n  - {id: a, source: {url: y.avi}}\n"
    with pytest.raises(ConfigError, match="camera ids must be unique; repeated: a"):
        load(write(tmp_path, text), environ={})


def test_a_detector_threshold_above_the_trackers_low_score_is_refused(tmp_path: Path) -> None:
    text = BASE.replace("type: ort,", "type: ort, score_threshold: 0.3,")
    text += "cameras: [{id: a, source: {url: x.avi}}]\n"
    with pytest.raises(ConfigError, match=r"score_threshold \(0.3\) is above tracker.low_score"):
        load(write(tmp_path, text), environ={})


def test_at_least_one_camera_is_needed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"edge\.yaml:3: cameras: Value error, at least one"):
        load(write(tmp_path, BASE + "cameras: []\n"), environ={})


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("/data/clip.avi", SourceKind.FILE),
        ("rtsp://user:pw@10.0.0.5:554/stream1", SourceKind.STREAM),
        ("HTTPS://cam.local/mjpeg", SourceKind.STREAM),
        ("usb:0", SourceKind.USB),
        ("/dev/video2", SourceKind.USB),
    ],
)
def test_the_source_kind_follows_the_url(url: str, kind: SourceKind) -> None:
    config = EdgeConfig.model_validate(
        {
            "device": {"id": "d"},
            "detector": {"type": "ort", "model": {"manifest": "m.toml"}},
            "cameras": [{"id": "c", "source": {"url": url}}],
        }
    )
    assert config.cameras[0].source.kind is kind


def test_every_config_field_has_a_description() -> None:
    def undocumented(model: type[object], path: str) -> list[str]:
        missing = []
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            if not field.description:
                missing.append(f"{path}{name}")
            annotation = field.annotation
            for candidate in getattr(annotation, "__args__", (annotation,)):
                if hasattr(candidate, "model_fields"):
                    missing += undocumented(candidate, f"{path}{name}.")
        return missing

    assert undocumented(EdgeConfig, "") == []
