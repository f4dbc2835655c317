"""Property-based fuzzing of the agent's configuration: files and environment overrides.

Whatever a config file or a `SIGHTLINE_EDGE_*` variable holds, loading it either gives a valid
`EdgeConfig` or raises `ConfigError` with a message; it never crashes with another exception.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.config import load
from edge.errors import ConfigError

KEYS = st.sampled_from(
    ["device", "id", "site", "detector", "type", "model", "manifest", "cameras", "source", "url",
     "fps", "delivery", "outbox", "path", "mqtt", "uplink", "host", "port", "tracker", "crops",
     "labels", "reconnect", "initial_s", "max_s", "log_level", "x", "__", "0"]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=20,
)
ENV_NAMES = st.lists(KEYS, min_size=1, max_size=3).map(
    lambda keys: "SIGHTLINE_EDGE_" + "__".join(keys).upper()
)


# tmp_path is shared by the examples of one test; each example overwrites the same file.
FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def loads_or_refuses(path: Path, environ: dict[str, str]) -> None:
    try:
        load(path, environ)
    except ConfigError as err:
        assert str(err)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=st.dictionaries(KEYS, VALUES, max_size=6))
def test_any_yaml_document_loads_or_is_a_config_error(tmp_path: Path, document: object) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    loads_or_refuses(path, {})


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=200))
def test_any_bytes_as_a_config_file_are_a_config_error_or_a_config(
    tmp_path: Path, raw: bytes
) -> None:
    path = tmp_path / "edge.yaml"
    path.write_bytes(raw)
    loads_or_refuses(path, {})


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(environ=st.dictionaries(ENV_NAMES, st.text(max_size=30), max_size=5))
def test_any_environment_overrides_load_or_are_a_config_error(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text("device: {id: box-1}\n", encoding="utf-8")
    loads_or_refuses(path, environ)
