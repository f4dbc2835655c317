from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, SecretStr

from edge.config_loader import load_yaml_model
from edge.errors import ConfigError


class Mqtt(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str = "127.0.0.1"
    port: int = 1883
    password: SecretStr | None = None


class Camera(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    fps: float = 5.0


class Root(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    mqtt: Mqtt = Mqtt()
    cameras: list[Camera] = []


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_it_loads_a_valid_file(tmp_path: Path) -> None:
    path = write(tmp_path, "mqtt:\n  port: 1884\ncameras:\n  - id: lobby\n")
    config = load_yaml_model(Root, path, environ={})
    assert config.mqtt.port == 1884
    assert config.cameras[0].id == "lobby"


def test_it_names_an_unknown_key_and_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "mqtt:\n  host: broker\n  prot: 1884\n")
    with pytest.raises(ConfigError) as excinfo:
        load_yaml_model(Root, path, environ={})
    assert f"{path}:3: mqtt.prot: Extra inputs are not permitted" in str(excinfo.value)


def test_it_points_a_bad_list_item_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "cameras:\n  - id: a\n  - id: b\n    fps: fast\n")
    with pytest.raises(ConfigError) as excinfo:
        load_yaml_model(Root, path, environ={})
    assert f"{path}:4: cameras.1.fps:" in str(excinfo.value)


def test_a_missing_required_key_points_at_its_parent(tmp_path: Path) -> None:
    path = write(tmp_path, "cameras:\n  - fps: 2\n")
    with pytest.raises(ConfigError, match=r"edge.yaml:2: cameras.0.id: Field required"):
        load_yaml_model(Root, path, environ={})


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "mqtt:\n  port: 1884\n")
    config = load_yaml_model(Root, path, environ={"SIGHTLINE_EDGE_MQTT__PORT": "2000"})
    assert config.mqtt.port == 2000


def test_a_secret_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n", encoding="utf-8")
    path = write(tmp_path, "{}\n")
    config = load_yaml_model(
        Root, path, environ={"SIGHTLINE_EDGE_MQTT__PASSWORD_FILE": str(secret)}
    )
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config)


def test_an_unreadable_secret_file_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "{}\n")
    missing = tmp_path / "absent"
    with pytest.raises(ConfigError, match="SIGHTLINE_EDGE_MQTT__PASSWORD_FILE: cannot read"):
        load_yaml_model(Root, path, environ={"SIGHTLINE_EDGE_MQTT__PASSWORD_FILE": str(missing)})


def test_invalid_yaml_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "mqtt: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml_model(Root, path, environ={})


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_yaml_model(Root, tmp_path / "absent.yaml", environ={})


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "edge.yaml"
    path.write_bytes(b"mqtt:\n  host: \xff\n")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_yaml_model(Root, path, environ={})


def test_an_override_that_is_not_yaml_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, "{}\n")
    with pytest.raises(ConfigError, match="SIGHTLINE_EDGE_MQTT__PORT: not a YAML value"):
        load_yaml_model(Root, path, environ={"SIGHTLINE_EDGE_MQTT__PORT": "[unclosed"})


@pytest.mark.parametrize(
    "environ",
    [
        {"SIGHTLINE_EDGE_MQTT": "plain", "SIGHTLINE_EDGE_MQTT__PORT": "1"},
        {"SIGHTLINE_EDGE_MQTT__PORT": "1", "SIGHTLINE_EDGE_MQTT": "plain"},
    ],
)
def test_overrides_that_set_a_key_both_as_a_value_and_as_a_section_are_a_config_error(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    with pytest.raises(ConfigError, match="SIGHTLINE_EDGE_MQTT"):
        load_yaml_model(Root, write(tmp_path, "{}\n"), environ=environ)
